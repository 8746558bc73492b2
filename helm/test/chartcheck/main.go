// chartcheck renders the Verity Helm chart the way `helm template` does and
// checks the result against the daemons it deploys.
//
//	chartcheck render  --chart DIR [-f FILE]... [--set K=V]... [--set-string K=V]...
//	                   [--name N] [--namespace NS] [--kube-version V] [-a API]... [--notes]
//	chartcheck check   --chart DIR --bin-dir DIR --cases FILE
//	chartcheck readme  --chart DIR (--check | --write)
//	chartcheck e2e     --chart DIR --bin-dir DIR [--verifiers N]
//
// Built in GOPATH mode against Debian's Go packages (see helm/CMakeLists.txt).
package main

import (
	"fmt"
	"os"
)

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func usage() {
	fmt.Fprintln(os.Stderr, "usage: chartcheck render|check|readme|e2e [flags] (see -h of each)")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "render":
		err = cmdRender(os.Args[2:])
	case "check":
		err = cmdCheck(os.Args[2:])
	case "readme":
		err = cmdReadme(os.Args[2:])
	case "e2e":
		err = cmdE2E(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}
