package main

// checkIngressAllowed must refuse a dial that the callee's NetworkPolicy
// does not admit, and accept it once a rule names the caller.

import (
	"strings"
	"testing"
)

func npTestChecker(peers []interface{}) *checker {
	c := &checker{name: "np"}
	pod := func(component string, ports []interface{}) doc {
		labels := obj{"c": component}
		return doc{Kind: "Deployment", Name: component, Body: obj{
			"spec": obj{
				"selector": obj{"matchLabels": labels},
				"template": obj{"metadata": obj{"labels": labels},
					"spec": obj{"containers": []interface{}{obj{"name": component, "ports": ports}}}},
			}}}
	}
	c.docs = []doc{
		pod("memsync", []interface{}{obj{"name": "memsync", "containerPort": 7410}}),
		pod("scheduler", nil),
		{Kind: "Service", Name: "ms", Body: obj{"spec": obj{
			"selector": obj{"c": "memsync"},
			"ports":    []interface{}{obj{"port": 7410, "targetPort": "memsync"}},
		}}},
		{Kind: "NetworkPolicy", Name: "ms", Body: obj{"spec": obj{
			"podSelector": obj{"matchLabels": obj{"c": "memsync"}},
			"ingress": []interface{}{obj{
				"ports": []interface{}{obj{"port": "memsync"}},
				"from":  peers,
			}},
		}}},
	}
	for _, d := range c.docs {
		c.collectPods(d)
	}
	return c
}

func TestIngressAllowed(t *testing.T) {
	agents := obj{"podSelector": obj{"matchLabels": obj{"c": "agent"}}}
	sched := obj{"podSelector": obj{"matchLabels": obj{"c": "scheduler"}}}
	for _, tc := range []struct {
		peers []interface{}
		fails bool
	}{
		{[]interface{}{agents}, true},
		{[]interface{}{agents, sched}, false},
		{nil, false}, // a rule without peers admits everyone
	} {
		c := npTestChecker(tc.peers)
		caller := c.pods[1]
		c.checkIngressAllowed("scheduler", "memsync", &c.docs[2], 7410, caller)
		if got := len(c.errs) > 0; got != tc.fails {
			t.Errorf("peers %v: failed=%v, want %v (%s)", tc.peers, got, tc.fails, strings.Join(c.errs, "; "))
		}
		if tc.fails && len(c.errs) > 0 && !strings.Contains(c.errs[0], "no NetworkPolicy of ms lets this pod in") {
			t.Errorf("unexpected message: %s", c.errs[0])
		}
	}
}
