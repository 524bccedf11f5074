// Command baseline is the bare net/http hello world the webapp benchmark
// compares against: no middleware, no logging, no limits.
package main

import (
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	body := []byte(`{"message":"hello"}` + "\n")
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	port := os.Getenv("PORT")
	if port == "" {
		port = "8081"
	}
	log.Fatal(http.ListenAndServe(net.JoinHostPort("127.0.0.1", port), nil))
}
