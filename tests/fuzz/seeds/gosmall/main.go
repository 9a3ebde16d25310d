// A small Go program whose binaries seed the ELF, .gopclntab and symbolizer
// fuzz targets: a few functions, methods, a generic one, inlined calls three
// levels deep and a goroutine, in a binary under a megabyte.
package main

import "os"

type counter struct{ n int }

func (c *counter) add(v int) { c.n += v }

func scale(v int) int    { return v * 3 }
func offset(v int) int   { return scale(v) + 1 }
func combined(v int) int { return offset(v) ^ scale(v+1) }

func sum[T int | int64](v []T) T {
	var s T
	for _, x := range v {
		s += x
	}
	return s
}

//go:noinline
func work(c *counter, n int) {
	for i := 0; i < n; i++ {
		c.add(combined(i))
	}
}

func main() {
	c := &counter{}
	done := make(chan int)
	go func() {
		work(c, len(os.Args)*10)
		done <- sum([]int{c.n, 1}) + int(sum([]int64{2, 3}))
	}()
	os.Exit(<-done & 1)
}
