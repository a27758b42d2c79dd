// SPDX-License-Identifier: MIT

//go:build !unix

package dirdisc

import "os"

// inode is 0 where the file system offers no inode number; size and time
// stamps alone then tell a change.
func inode(os.FileInfo) uint64 { return 0 }
