package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

type result struct {
	opts             options
	kills            int
	created, deleted int
	chaos, converge  time.Duration
	converged        bool
	verdict          verdict
}

func report(w io.Writer, r result) {
	o, v := r.opts, r.verdict
	fmt.Fprintf(w, "# Restart safety\n\n")
	fmt.Fprintf(w, "Written by `make bench-chaos` (test/chaos): the operator binary against the local simulated cluster\n")
	fmt.Fprintf(w, "(kwok nodes, kube-controller-manager's garbage collector), as its ServiceAccount, killed with\n")
	fmt.Fprintf(w, "SIGKILL after a random %s–%s run (seed %d) and started again at once, while %d workspaces,\n", o.killMin, o.killMax, o.seed, o.workspaces)
	fmt.Fprintf(w, "%d warehouses and %d model endpoints are created and then about half of them deleted\n", o.warehouses, o.endpoints)
	fmt.Fprintf(w, "(directly, and with their workspaces). Then it runs undisturbed until everything converges.\n\n")
	verdict := "converged"
	if !r.converged {
		verdict = "DID NOT CONVERGE"
	}
	fmt.Fprintf(w, "| | |\n|---|---|\n")
	fmt.Fprintf(w, "| SIGKILLs of the operator | %d |\n", r.kills)
	fmt.Fprintf(w, "| Objects created / deleted under the kills | %d / %d |\n", r.created, r.deleted)
	fmt.Fprintf(w, "| Time under the kills | %s |\n", r.chaos.Round(time.Second))
	fmt.Fprintf(w, "| Time to converge after the last kill | %s (%s) |\n", r.converge.Round(time.Second), verdict)
	fmt.Fprintf(w, "| Duplicate objects | %d |\n", len(v.duplicates))
	fmt.Fprintf(w, "| Orphaned objects | %d |\n", len(v.orphans))
	fmt.Fprintf(w, "| Ledger entries unequal to the live clusters | %d (ledgers hold %d DBU/h, live clusters cost %d) |\n", len(v.ledger), v.ledgerDBU, v.liveDBU)
	fmt.Fprintf(w, "| Live objects not Ready / deleted objects still there | %d / %d |\n", len(v.notReady), len(v.lingering))
	for _, l := range []struct {
		title string
		items []string
	}{{"Duplicates", v.duplicates}, {"Orphans", v.orphans}, {"Ledger", v.ledger}, {"Not Ready", v.notReady}, {"Still there", v.lingering}} {
		if len(l.items) == 0 {
			continue
		}
		items := l.items
		if len(items) > 20 {
			items = append(items[:20:20], fmt.Sprintf("... and %d more", len(l.items)-20))
		}
		fmt.Fprintf(w, "\n%s:\n\n- %s\n", l.title, strings.Join(items, "\n- "))
	}
}
