//go:build !ferrymap_intree && !ferrymap_external

package ctest

// #cgo pkg-config: ferrymap
import "C"
