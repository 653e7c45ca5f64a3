// Command coredns is the local cluster's DNS: CoreDNS's own main, linked with only the
// plugins the cluster's Corefile (scripts/cluster.sh) uses. CoreDNS's full build links every
// cloud provider's SDK; this one builds in about a minute on a 2-core machine.
// The plugins keep CoreDNS's standard order (dnsserver.Directives).
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
