// gohttp2: a Go net/http server over TLS with HTTP/2 (net/http's bundled copy),
// for latscope's Go tests. /slow sleeps -slow-ms (default 20) before answering,
// /fast answers at once; POST bodies are read and counted.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	cert := flag.String("cert", "cert.pem", "certificate (PEM)")
	key := flag.String("key", "key.pem", "private key (PEM)")
	slowMs := flag.Int("slow-ms", 20, "delay of /slow in milliseconds")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(*slowMs) * time.Millisecond)
		fmt.Fprintf(w, "slow\n")
	})
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "fast %d\n", n)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "gohttp2: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: mux}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		srv.Close()
	}()
	if err := srv.ServeTLS(ln, *cert, *key); err != http.ErrServerClosed {
		fmt.Fprintf(os.Stderr, "gohttp2: %v\n", err)
		os.Exit(1)
	}
}
