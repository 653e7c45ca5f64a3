// Command pause is the local cluster's pod sandbox process: it holds the pod's
// namespaces, reaps orphaned children (it is PID 1 when the pod shares its PID
// namespace) and exits on SIGINT or SIGTERM. scripts/cluster.sh packs it alone
// in an OCI image and imports that into containerd as the sandbox image, so no
// registry is needed.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("paas-pause\n")
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	children := make(chan os.Signal, 16)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			os.Exit(0)
		case <-children:
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
