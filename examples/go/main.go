// A standard-library web app: GET / answers the commit it was built from.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		sha := os.Getenv("PAAS_COMMIT_SHA")
		if sha == "" {
			sha = "unknown"
		}
		fmt.Fprintln(w, sha)
	})
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
