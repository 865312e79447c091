package ferrymap_test

import (
	"testing"

	ferrymap "github.com/ferrymap/ferrymap/bindings/go"
)

// Allocations per call on the hot paths (run with -benchmem).
func BenchmarkAllocs(b *testing.B) {
	b.Run("Get-int64-int64", func(b *testing.B) {
		m, _ := ferrymap.New[int64, int64](0)
		defer m.Close()
		m.Set(1, 1)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Get(1)
		}
	})
	b.Run("Set-int64-int64", func(b *testing.B) {
		m, _ := ferrymap.New[int64, int64](0)
		defer m.Close()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Set(int64(i&1023), 1)
		}
	})
	b.Run("Get-string-int64", func(b *testing.B) {
		m, _ := ferrymap.New[string, int64](0)
		defer m.Close()
		m.Set("some key", 1)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Get("some key")
		}
	})
	b.Run("Set-string-string", func(b *testing.B) {
		m, _ := ferrymap.New[string, string](0)
		defer m.Close()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Set("some key", "some value")
		}
	})
	b.Run("Get-string-string", func(b *testing.B) {
		m, _ := ferrymap.New[string, string](0)
		defer m.Close()
		m.Set("some key", "some value")
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Get("some key")
		}
	})
	b.Run("View-int64-bytes", func(b *testing.B) {
		m, _ := ferrymap.New[int64, []byte](0)
		defer m.Close()
		m.Set(1, []byte("some value"))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			v, _, _ := m.View(1)
			v.Release()
		}
	})
	b.Run("Update-int64-int64", func(b *testing.B) {
		m, _ := ferrymap.New[int64, int64](0)
		defer m.Close()
		m.Set(1, 1)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Update(1, func(v *int64) bool { *v++; return true })
		}
	})
	b.Run("Add-int64-int64", func(b *testing.B) {
		m, _ := ferrymap.New[int64, int64](0)
		defer m.Close()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m.Add(1, 1)
		}
	})
}
