// Command kube is the local cluster's control plane and node in one binary:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
// kube-proxy and kubectl, each the upstream command of the pinned release
// (see go.mod). One binary links the shared Kubernetes packages once, which
// keeps a cold build on a 2-core machine within minutes.
//
// Run it as `kube <component> [flags]`, or through a symlink named after the
// component (`kube-apiserver [flags]`), as scripts/cluster.sh does.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	_ "time/tzdata" // CronJob time zones
)

// Each component takes the arguments after its name (args[0] is the component).
var components = map[string]func(args []string) int{
	"etcd": func(args []string) int {
		etcdmain.Main(append([]string{"etcd"}, args[1:]...))
		return 0
	},
	"kube-apiserver":          cobraMain(apiserver.NewAPIServerCommand),
	"kube-controller-manager": cobraMain(controllermanager.NewControllerManagerCommand),
	"kube-scheduler":          cobraMain(func() *cobra.Command { return scheduler.NewSchedulerCommand() }),
	"kubelet":                 cobraMain(func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) }),
	"kube-proxy":              cobraMain(proxy.NewProxyCommand),
	"kubectl": func(args []string) int {
		_, _ = logs.GlogSetter(kubectl.GetLogVerbosity(args))
		cmd := kubectl.NewDefaultKubectlCommand()
		cmd.SetArgs(args[1:])
		if err := cli.RunNoErrOutput(cmd); err != nil {
			kubectlutil.CheckErr(err)
		}
		return 0
	},
}

func cobraMain(newCommand func() *cobra.Command) func(args []string) int {
	return func(args []string) int {
		cmd := newCommand()
		cmd.SetArgs(args[1:])
		return cli.Run(cmd)
	}
}

func main() {
	args := os.Args
	name := filepath.Base(args[0])
	if _, ok := components[name]; !ok {
		if len(args) < 2 {
			usage()
			os.Exit(2)
		}
		args = args[1:]
		name = args[0]
		// `kube apiserver` and `kube kube-apiserver` both work.
		if _, ok := components[name]; !ok {
			name = "kube-" + name
		}
	}
	run, ok := components[name]
	if !ok {
		usage()
		os.Exit(2)
	}
	os.Args = append([]string{name}, args[1:]...)
	os.Exit(run(os.Args))
}

func usage() {
	names := make([]string, 0, len(components))
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: kube <component> [flags]\ncomponents: %s\n", strings.Join(names, ", "))
}
