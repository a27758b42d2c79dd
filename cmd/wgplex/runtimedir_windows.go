// SPDX-License-Identifier: MIT

package main

import "github.com/wgplex/wgplex/core/uapi"

// dialInterface connects to ifname's named pipe; Windows has one place
// for them, whoever runs the daemon.
func dialInterface(ifname string) (*uapi.Client, error) { return uapi.Dial(ifname) }

// listInterfaces lists the interfaces with a named pipe.
func listInterfaces() ([]string, error) { return uapi.List() }
