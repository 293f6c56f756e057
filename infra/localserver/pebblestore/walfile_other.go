//go:build !linux

package pebblestore

import "github.com/cockroachdb/pebble/v2/vfs"

// walFS is Pebble's default elsewhere (the sized log files are Linux's).
func walFS() vfs.FS { return vfs.Default }
