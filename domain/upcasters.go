package domain

import "encoding/json"

// Upcasters of old event shapes, one per schema change, oldest first. An
// upcaster never fails on data it can make sense of: the log cannot be
// corrected, so reading it must not break.

func init() {
	// JobPosted v1 (the first jobs, before employment types existed) has no
	// employment_type; v2 requires one. Those jobs were full-time: the
	// default the API applies when a client names none.
	registerUpcaster(JobPosted{}.EventType(), 1, func(f map[string]json.RawMessage) error {
		if v, ok := f["employment_type"]; !ok || string(v) == "null" || string(v) == `""` {
			f["employment_type"] = json.RawMessage(`"` + FullTime.String() + `"`)
		}
		return nil
	})
}
