// A Go API on chi with a few modules: GET / answers the commit it was built
// from, /items/{id} validates its parameter and tags the answer with a UUID.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	limiter := rate.NewLimiter(rate.Limit(1000), 100)
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
		sha := os.Getenv("PAAS_COMMIT_SHA")
		if sha == "" {
			sha = "unknown"
		}
		fmt.Fprintln(w, sha)
	})
	r.Get("/items/{id}", func(w http.ResponseWriter, req *http.Request) {
		if !limiter.Allow() {
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		id, err := strconv.Atoi(chi.URLParam(req, "id"))
		if err != nil {
			http.Error(w, "id must be a number", http.StatusUnprocessableEntity)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "double": id * 2, "request": uuid.NewString()})
	})
	log.Fatal(http.ListenAndServe(":"+port, r))
}
