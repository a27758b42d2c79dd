// SPDX-License-Identifier: MIT

package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /metrics from g and /healthz, which answers 200 "ok"
// while healthy returns true and 503 otherwise (nil healthy: always ok).
// Every other path is 404, so that a scanner finds nothing to poke at.
func Handler(g prometheus.Gatherer, healthy func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		// A couple of Prometheus replicas and a curl at once are normal;
		// more would only let a misbehaving client pile up Snapshot copies.
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if healthy != nil && !healthy() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("closed\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

// OpenWhile returns a health check that holds until closed is closed,
// e.g. OpenWhile(tunnel.Closed()).
func OpenWhile(closed <-chan struct{}) func() bool {
	return func() bool {
		select {
		case <-closed:
			return false
		default:
			return true
		}
	}
}

// Server is a running metrics HTTP server.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// Serve listens on addr (host:port; "127.0.0.1:9586" keeps the metrics on
// the machine) and serves h in the background until Close. Listening
// happens before Serve returns, so a port already in use is an error here
// and not a log line later.
func Serve(addr string, h http.Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("Metrics server stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting connections, lets scrapes under way finish for up
// to five seconds, then closes what is left.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	return err
}
