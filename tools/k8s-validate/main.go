// Command k8s-validate checks offload's Kubernetes manifests offline, with no
// cluster and no schema download:
//
//  1. each directory given is built with kustomize's own library, as
//     `kubectl apply -k DIR` builds it;
//  2. every object is decoded strictly into its typed Kubernetes struct
//     (k8s.io/api; KEDA's ScaledObject into a local struct of its documented
//     fields): an unknown or misspelt field, a duplicate key, a wrong type or
//     a malformed quantity is an error, as the API server's strict field
//     validation would make it;
//  3. offload's own rules are checked across the objects of each directory
//     (rules.go): selectors, probes, resources, security, the worker's grace
//     period against its job timeout, the autoscaler's target and Redis key.
//
// Usage: k8s-validate [-external-secret NAME]... DIR...
// Prints each problem as "DIR: Kind/name: message" and exits 1 if there is
// any, 2 on a usage error, 0 when every directory passes.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var external listFlag
	fs := flag.NewFlagSet("k8s-validate", flag.ContinueOnError)
	fs.Var(&external, "external-secret",
		"a Secret the manifests use but do not contain (made by hand before applying); repeatable")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: k8s-validate [-external-secret NAME]... DIR...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		os.Exit(2)
	}
	failed := false
	for _, dir := range fs.Args() {
		problems, n, err := validateDir(dir, external)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", dir, err)
			failed = true
			continue
		}
		for _, p := range problems {
			fmt.Fprintf(os.Stderr, "%s: %s\n", dir, p)
		}
		if len(problems) > 0 {
			failed = true
			continue
		}
		fmt.Printf("%s: %d objects, ok\n", dir, n)
	}
	if failed {
		os.Exit(1)
	}
}
