module example.com/ferrymap-consumer

go 1.24

require github.com/ferrymap/ferrymap/bindings/go v0.1.0

// The suite copies the module out of the checkout to ../gomod, so it is
// resolved offline; a published module needs no replace.
replace github.com/ferrymap/ferrymap/bindings/go => ../gomod
