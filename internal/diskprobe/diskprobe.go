// Package diskprobe times what a commit's fsync costs on a disk: a 4 KiB
// write and an fdatasync in a scratch file. The load harnesses run it beside
// the load so that a run can tell the gateway's slowness from the disk's
// own: on a shared virtual disk, fsync stalls of hundreds of milliseconds
// come and go with no load at all (docs/benchmarks.md).
package diskprobe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Probe is a scratch file in the directory probed.
type Probe struct {
	f     *os.File
	block []byte
	i     int
}

// Open creates the scratch file in dir; Close removes it.
func Open(dir, prefix string) (*Probe, error) {
	f, err := os.CreateTemp(dir, prefix)
	if err != nil {
		return nil, err
	}
	return &Probe{f: f, block: make([]byte, 4096)}, nil
}

// Once writes a 4 KiB block (one of 64, in turn, so the file stays small)
// and fdatasyncs it, and returns how long that took.
func (p *Probe) Once() (time.Duration, error) {
	p.block[0] = byte(p.i)
	off := int64(p.i%64) * 4096
	p.i++
	t0 := time.Now()
	if _, err := p.f.WriteAt(p.block, off); err != nil {
		return 0, err
	}
	if err := syscall.Fdatasync(int(p.f.Fd())); err != nil {
		return 0, fmt.Errorf("fdatasync %s: %w", filepath.Base(p.f.Name()), err)
	}
	return time.Since(t0), nil
}

// Close closes and removes the scratch file.
func (p *Probe) Close() error {
	err := p.f.Close()
	if rmErr := os.Remove(p.f.Name()); err == nil {
		err = rmErr
	}
	return err
}

// Every probes dir every interval until ctx ends, giving observe each
// probe's start and duration. It returns nil when ctx ends, or the first
// error.
func Every(ctx context.Context, dir, prefix string, interval time.Duration, observe func(start time.Time, took time.Duration)) error {
	p, err := Open(dir, prefix)
	if err != nil {
		return err
	}
	defer p.Close()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		took, err := p.Once()
		if err != nil {
			return err
		}
		observe(start, took)
	}
}
