//go:build ferrymap_external

package ctest

// #cgo LDFLAGS: -lferrymap
import "C"
