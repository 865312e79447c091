module github.com/ferrymap/ferrymap/tests/linearizability

go 1.24

require (
	github.com/anishathalye/porcupine v1.3.1
	github.com/ferrymap/ferrymap/bindings/go v0.0.0
)

replace github.com/ferrymap/ferrymap/bindings/go => ../../bindings/go
