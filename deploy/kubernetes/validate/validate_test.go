// Package validate checks deploy/kubernetes offline: every manifest decodes
// strictly into the Kubernetes API's own Go types (an unknown or misspelt
// field, or a value of the wrong type, fails, as the API server would refuse
// it), and the deployment holds together: selectors select, probes and
// ports exist, every secret comes from a Secret, every container has its
// resources. It is a module of its own so that the service's module does
// not depend on the Kubernetes API; CI runs it with
// `cd deploy/kubernetes/validate && go test ./...`.
package validate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// manifests are the decoded objects of deploy/kubernetes, by kind.
type manifests struct {
	files       []string
	namespaces  []corev1.Namespace
	configMaps  []corev1.ConfigMap
	deployments []appsv1.Deployment
	jobs        []batchv1.Job
	services    []corev1.Service
	ingresses   []networkingv1.Ingress
	pdbs        []policyv1.PodDisruptionBudget
}

// kustomization is the part of kustomization.yaml checked here.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
}

func load(t *testing.T) manifests {
	t.Helper()
	paths, err := filepath.Glob("../*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifests
	for _, path := range paths {
		name := filepath.Base(path)
		if name == "kustomization.yaml" {
			continue
		}
		m.files = append(m.files, name)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
			if err := m.add(doc); err != nil {
				t.Errorf("%s, document %d: %v", name, i+1, err)
			}
		}
	}
	return m
}

// add decodes one document strictly into the type its kind names.
func (m *manifests) add(doc []byte) error {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return err
	}
	strict := func(v any) error { return yaml.UnmarshalStrict(doc, v) }
	switch meta.APIVersion + " " + meta.Kind {
	case "v1 Namespace":
		var v corev1.Namespace
		return appendDecoded(&m.namespaces, v, strict)
	case "v1 ConfigMap":
		var v corev1.ConfigMap
		return appendDecoded(&m.configMaps, v, strict)
	case "apps/v1 Deployment":
		var v appsv1.Deployment
		return appendDecoded(&m.deployments, v, strict)
	case "batch/v1 Job":
		var v batchv1.Job
		return appendDecoded(&m.jobs, v, strict)
	case "v1 Service":
		var v corev1.Service
		return appendDecoded(&m.services, v, strict)
	case "networking.k8s.io/v1 Ingress":
		var v networkingv1.Ingress
		return appendDecoded(&m.ingresses, v, strict)
	case "policy/v1 PodDisruptionBudget":
		var v policyv1.PodDisruptionBudget
		return appendDecoded(&m.pdbs, v, strict)
	}
	return fmt.Errorf("unexpected kind %q of %q", meta.Kind, meta.APIVersion)
}

func appendDecoded[T any](list *[]T, v T, strict func(any) error) error {
	if err := strict(&v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

func (m manifests) deployment(t *testing.T, name string) appsv1.Deployment {
	t.Helper()
	for _, d := range m.deployments {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no Deployment %s", name)
	return appsv1.Deployment{}
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := load(t)
	if len(m.deployments) != 2 || len(m.jobs) != 1 || len(m.services) != 1 || len(m.ingresses) != 1 || len(m.pdbs) != 2 {
		t.Fatalf("want 2 Deployments, a Job, a Service, an Ingress and 2 PodDisruptionBudgets; got %d, %d, %d, %d, %d",
			len(m.deployments), len(m.jobs), len(m.services), len(m.ingresses), len(m.pdbs))
	}
	raw, err := os.ReadFile("../kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	slices.Sort(k.Resources)
	if !slices.Equal(k.Resources, m.files) {
		t.Errorf("kustomization.yaml lists %v; the folder holds %v", k.Resources, m.files)
	}
}

// secretVars are the variables that hold secrets: they must come from a
// Secret, never be written in a manifest.
var secretVars = []string{"DATABASE_URL", "MIGRATE_DATABASE_URL", "JWT_SECRET", "SMTP_URL"}

// pinned is an image with an exact version.
var pinned = regexp.MustCompile(`^[a-z0-9./-]+:v?\d+\.\d+\.\d+$|@sha256:[0-9a-f]{64}$`)

func checkPod(t *testing.T, where string, spec corev1.PodSpec, cm corev1.ConfigMap) {
	t.Helper()
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the pod needs no API token: set automountServiceAccountToken: false", where)
	}
	if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("%s: the pod must run as non-root", where)
	}
	for _, c := range spec.Containers {
		where := where + ", container " + c.Name
		if !pinned.MatchString(c.Image) {
			t.Errorf("%s: image %q is not pinned to a version", where, c.Image)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("%s: requests no CPU or memory", where)
		}
		if c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: has no memory limit", where)
		}
		if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("%s: the root filesystem should be read-only", where)
		}
		for _, e := range c.Env {
			if slices.Contains(secretVars, e.Name) && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
				t.Errorf("%s: %s must come from a Secret (valueFrom.secretKeyRef)", where, e.Name)
			}
		}
		for _, name := range secretVars {
			if _, ok := cm.Data[name]; ok {
				t.Errorf("%s: the ConfigMap holds %s, a secret", where, name)
			}
		}
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		for kind, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if probe == nil || probe.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", where, kind)
				continue
			}
			if _, ok := ports[probe.HTTPGet.Port.String()]; !ok {
				t.Errorf("%s: the %s probe's port %s is not a port of the container", where, kind, probe.HTTPGet.Port.String())
			}
		}
		if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s: readiness is /readyz", where)
		}
		if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("%s: liveness is /healthz", where)
		}
	}
}

func TestTheDeploymentHoldsTogether(t *testing.T) {
	m := load(t)
	if len(m.configMaps) != 1 {
		t.Fatalf("want one ConfigMap, got %d", len(m.configMaps))
	}
	cm := m.configMaps[0]
	api := m.deployment(t, "jobboard-api")
	worker := m.deployment(t, "jobboard-worker")

	if api.Spec.Replicas == nil || *api.Spec.Replicas < 2 {
		t.Errorf("the API runs at least 2 replicas")
	}
	roles := map[string]string{"jobboard-api": "--role=api", "jobboard-worker": "--role=worker"}
	for _, d := range []appsv1.Deployment{api, worker} {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			t.Fatalf("%s: selector: %v", d.Name, err)
		}
		if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: its selector does not select its own pods", d.Name)
		}
		checkPod(t, d.Name, d.Spec.Template.Spec, cm)
		if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, roles[d.Name]) {
			t.Errorf("%s: runs %v, want %s", d.Name, args, roles[d.Name])
		}
		for _, from := range d.Spec.Template.Spec.Containers[0].EnvFrom {
			if from.ConfigMapRef != nil && from.ConfigMapRef.Name != cm.Name {
				t.Errorf("%s: reads ConfigMap %s, which is not here", d.Name, from.ConfigMapRef.Name)
			}
		}
	}

	job := m.jobs[0]
	jobPod := job.Spec.Template.Spec
	if !slices.Contains(jobPod.Containers[0].Args, "migrate") {
		t.Errorf("the Job runs jobboard migrate")
	}
	hasOwner := false
	for _, e := range jobPod.Containers[0].Env {
		hasOwner = hasOwner || e.Name == "MIGRATE_DATABASE_URL"
	}
	if !hasOwner {
		t.Errorf("the migrate Job connects as the owner (MIGRATE_DATABASE_URL)")
	}
	for _, d := range []appsv1.Deployment{api, worker} {
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "MIGRATE_DATABASE_URL" {
				t.Errorf("%s holds the owner's URL; only the migrate Job may", d.Name)
			}
		}
	}

	svc := m.services[0]
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(api.Spec.Template.Labels)) {
		t.Errorf("the Service does not select the API's pods")
	}
	if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(worker.Spec.Template.Labels)) {
		t.Errorf("the Service selects the workers, which serve no API")
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.String() != "http" {
			t.Errorf("the Service exposes %s; only the API's http port belongs there", p.TargetPort.String())
		}
	}
	for _, rule := range m.ingresses[0].Spec.Rules {
		for _, path := range rule.HTTP.Paths {
			b := path.Backend.Service
			if b == nil || b.Name != svc.Name || b.Port.Name != svc.Spec.Ports[0].Name {
				t.Errorf("the Ingress sends %s to a backend that is not the API's Service port", path.Path)
			}
		}
	}
	if len(m.ingresses[0].Spec.TLS) == 0 {
		t.Errorf("the Ingress serves HTTPS")
	}
	for _, pdb := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		matched := 0
		for _, d := range []appsv1.Deployment{api, worker} {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				matched++
			}
		}
		if matched != 1 {
			t.Errorf("PodDisruptionBudget %s selects %d Deployments' pods, want 1", pdb.Name, matched)
		}
	}
	if !strings.Contains(cm.Data["METRICS_ADDR"], ":9090") {
		t.Errorf("metrics are on their own listener, :9090")
	}
}
