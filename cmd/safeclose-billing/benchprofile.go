//go:build benchprofile

package main

// Built only with -tags benchprofile (BenchmarkServeUnderLoad does when
// BENCH_CPUPROFILE is set): the served binary profiles its CPU from start
// and, on SIGUSR1, writes the profile to $BENCH_CPUPROFILE (and the
// allocations profile beside it, $BENCH_CPUPROFILE.allocs). The production
// binary has none of this.

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("BENCH_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGUSR1)
	go func() {
		<-stop
		pprof.StopCPUProfile()
		if a, err := os.Create(path + ".allocs"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(a, 0)
			a.Close()
		}
		if err := f.Close(); err == nil {
			os.Rename(path+".tmp", path)
		}
	}()
}
