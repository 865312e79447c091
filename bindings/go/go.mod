module github.com/ferrymap/ferrymap/bindings/go

go 1.24
