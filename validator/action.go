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
)

// Actions lists the actions this version implements.
var Actions = []Action{ActionReport, ActionKeepFirst}

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

// Policy chooses the action for each duplicate of a request.
type Policy interface {
	ActionFor(r *Request, d *Duplicate) Action
}

// StaticPolicy applies one action to every duplicate.
type StaticPolicy Action

// ActionFor implements Policy.
func (p StaticPolicy) ActionFor(*Request, *Duplicate) Action { return Action(p) }
