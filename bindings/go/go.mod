module ferrymap

go 1.24
