// A minimal Go net/http twin of gosleep's /sleep, the yardstick of `bench gosleep`:
// the original experiment's upstream was a Go server like this one.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	// HTTPS with this chain and key (PEM), as gosleep's --tls-cert/--tls-key: Go's own TLS
	// stack with its defaults (TLS 1.3, session tickets on).
	tlsCert := flag.String("tls-cert", "", "PEM certificate chain: serve HTTPS")
	tlsKey := flag.String("tls-key", "", "PEM private key of -tls-cert")
	flag.Parse()
	body := bytes.Repeat([]byte("z"), 64)
	http.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil {
			ms = 1000
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(body)
	})
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *tlsCert != "" {
		fmt.Printf("go-sleep listening on https://%s\n", ln.Addr())
		err = http.ServeTLS(ln, nil, *tlsCert, *tlsKey)
	} else {
		fmt.Printf("go-sleep listening on http://%s\n", ln.Addr())
		err = http.Serve(ln, nil)
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
