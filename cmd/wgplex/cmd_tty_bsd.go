// SPDX-License-Identifier: MIT

//go:build darwin || freebsd || openbsd || netbsd || dragonfly

package main

import "golang.org/x/sys/unix"

const ioctlGetTermios = unix.TIOCGETA
