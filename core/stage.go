// SPDX-License-Identifier: MIT

package core

import (
	"context"
	"runtime/pprof"
)

// StageLabel is the pprof label key under which the tunnel's long-lived
// goroutines name the stage of the data path they run, so that a Go CPU
// profile of a process (`go tool pprof -tags FILE`, or the daemon's
// --cpu-profile) splits its CPU time by stage even though goroutines move
// between threads. The values:
//
//	device-read        reads the device: GSO split, routing, and with the
//	                   inline crypto mode sealing and sending too
//	socket-receive-N   drives the bind's N-th receive function (0 first;
//	                   transports/udp on Linux: IPv4 data, IPv4 handshake,
//	                   IPv6 data, IPv6 handshake, those that are open):
//	                   with the inline mode opening and the device write
//	crypto-worker      seals and opens for the parallel mode
//	crypto-worker-flush-tx, crypto-worker-flush-rx
//	                   a crypto worker passing finished batches on in
//	                   order, to the socket (tx) or to the device (rx):
//	                   one worker at a time per peer and direction
//	handshake-worker   the Diffie-Hellman work of handshakes
//	device-events      link up/down and MTU changes
//
// A stage that is one goroutine at a time (each but crypto-worker and
// handshake-worker, for one peer) and whose samples add up to one
// CPU-second per second of the profile is a serial limit: more cores
// cannot speed it up. With fewer Ps than stages (the daemon's one P on
// two CPUs) the stages share the Ps, and one can be the limit well below
// that.
const StageLabel = "wgplex.stage"

// setStage labels the calling goroutine's samples with stage. Called once
// at the start of each long-lived goroutine: nothing per packet.
func setStage(stage string) {
	pprof.SetGoroutineLabels(stageContext(stage))
}

func stageContext(stage string) context.Context {
	return pprof.WithLabels(context.Background(), pprof.Labels(StageLabel, stage))
}

// The crypto workers switch between these once per batch; made once, a
// switch is a pointer store.
var (
	stageCryptoWorker        = stageContext("crypto-worker")
	stageCryptoWorkerFlushTx = stageContext("crypto-worker-flush-tx")
	stageCryptoWorkerFlushRx = stageContext("crypto-worker-flush-rx")
)
