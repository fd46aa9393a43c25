package validator

import (
	"fmt"
	"strings"
)

// Action names what pushguard does with duplicate samples.
type Action string

// Actions.
const (
	// ActionReport forwards the request unchanged and records offenders.
	ActionReport Action = "report"
	// ActionKeepFirst keeps the first sample of each duplicate group, as
	// Mimir itself does, and drops the others before they reach it.
	ActionKeepFirst Action = "keep-first"
	// ActionKeepLast keeps the last sample of each group in request order.
	ActionKeepLast Action = "keep-last"
	// ActionKeepMax keeps the sample with the largest value.
	ActionKeepMax Action = "keep-max"
	// ActionKeepMin keeps the sample with the smallest value.
	ActionKeepMin Action = "keep-min"
	// ActionSum keeps one sample whose value is the sum of the group: the
	// repair for series that relabelling collapsed into one.
	ActionSum Action = "sum"
	// ActionLabel keeps every sample and tells the colliding series apart
	// with a disambiguation label.
	ActionLabel Action = "label"
	// ActionReject refuses the whole request.
	ActionReject Action = "reject"
)

// Actions lists the actions this version implements.
var Actions = []Action{ActionReport, ActionKeepFirst, ActionKeepLast, ActionKeepMax, ActionKeepMin, ActionSum, ActionLabel, ActionReject}

// ParseAction parses an action name.
func ParseAction(s string) (Action, error) {
	for _, a := range Actions {
		if string(a) == s {
			return a, nil
		}
	}
	names := make([]string, len(Actions))
	for i, a := range Actions {
		names[i] = string(a)
	}
	return "", fmt.Errorf("unknown action %q, expected one of: %s", s, strings.Join(names, ", "))
}

// appliesAcrossRequests reports whether a can act on a duplicate whose first
// sample went upstream in an earlier request: only the actions that leave
// the earlier sample alone can.
func (a Action) appliesAcrossRequests() bool {
	return a == ActionReport || a == ActionKeepFirst || a == ActionReject
}

// Policy chooses the action for each duplicate of a request.
type Policy interface {
	ActionFor(r *Request, d *Duplicate) Action
}

// StaticPolicy applies one action to every duplicate.
type StaticPolicy Action

// ActionFor implements Policy.
func (p StaticPolicy) ActionFor(*Request, *Duplicate) Action { return Action(p) }
