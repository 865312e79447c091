module ferrymap-go-demo

go 1.24

require github.com/ferrymap/ferrymap/bindings/go v0.0.0

replace github.com/ferrymap/ferrymap/bindings/go => ../bindings/go
