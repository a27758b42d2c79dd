// SPDX-License-Identifier: MIT

//go:build unix

package dirdisc

import (
	"os"
	"syscall"
)

// inode is the file's inode number: a file replaced by rename (how most
// editors and the plugin itself write) gets a new one even when its size
// and time stamp look the same.
func inode(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
