// SPDX-License-Identifier: MIT

//go:build !linux

package main

// netnsPart places the device in a network namespace on Linux (wgplex
// netns-daemon); elsewhere there are none, and it does nothing.
type netnsPart struct{}

func (netnsPart) Name() string                     { return "netns" }
func (netnsPart) Flags(*daemonFlagSet)             {}
func (netnsPart) Start(*daemonEnv) (func(), error) { return nil, nil }
