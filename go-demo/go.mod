module ferrymap-go-demo

go 1.24

require ferrymap v0.0.0

replace ferrymap => ../bindings/go
