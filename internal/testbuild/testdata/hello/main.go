// SPDX-License-Identifier: MIT

// Command hello is what TestBuild builds.
package main

func main() {}
