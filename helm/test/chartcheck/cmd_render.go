package main

import (
	"flag"
	"fmt"
	"os"
)

// renderFlags registers the `helm template` flags shared by the commands.
func renderFlags(fs *flag.FlagSet, o *RenderOptions, chart *string) {
	fs.StringVar(chart, "chart", "", "chart directory")
	fs.Var((*multiFlag)(&o.ValueFiles), "f", "values file (repeatable; later wins)")
	fs.Var((*multiFlag)(&o.ValueFiles), "values", "same as -f")
	fs.Var((*multiFlag)(&o.Sets), "set", "K=V[,K=V] with type inference (repeatable)")
	fs.Var((*multiFlag)(&o.SetStrings), "set-string", "K=V[,K=V] as strings (repeatable)")
	fs.StringVar(&o.ReleaseName, "name", "release-name", "release name")
	fs.StringVar(&o.Namespace, "namespace", "default", "release namespace")
	fs.StringVar(&o.KubeVersion, "kube-version", "v1.29.0", "Kubernetes version for .Capabilities")
	fs.Var((*multiFlag)(&o.APIVersions), "a", "extra API version for .Capabilities.APIVersions (repeatable)")
}

func cmdRender(args []string) error {
	fs := flag.NewFlagSet("render", flag.ExitOnError)
	var o RenderOptions
	var chartDir string
	renderFlags(fs, &o, &chartDir)
	notes := fs.Bool("notes", false, "print NOTES.txt after the manifests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if chartDir == "" {
		return fmt.Errorf("--chart is required")
	}
	c, err := loadChart(chartDir)
	if err != nil {
		return err
	}
	r, err := render(c, o)
	if err != nil {
		return err
	}
	fmt.Print(r.String())
	if *notes {
		fmt.Fprintf(os.Stdout, "\nNOTES:\n%s\n", r.Notes)
	}
	return nil
}
