package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The manifests under test: the project's own, copied and broken one way
// per case, so each rule is shown to fail on the mistake it is for.
const manifests = "../../deploy/k8s"

var external = []string{"offload-api-token"}

// copyTree copies the manifests into a temporary directory.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(manifests, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(manifests, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// edit replaces old by new in file (relative to dir); old must be there.
func edit(t *testing.T, dir, file, old, new string) {
	t.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q: the test is stale", file, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func validateAll(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	for _, variant := range []string{dir, filepath.Join(dir, "hpa")} {
		problems, _, err := validateDir(variant, external)
		if err != nil {
			out = append(out, err.Error())
		}
		out = append(out, problems...)
	}
	return strings.Join(out, "\n")
}

func TestManifestsPass(t *testing.T) {
	for _, variant := range []string{manifests, manifests + "/hpa"} {
		problems, n, err := validateDir(variant, external)
		if err != nil {
			t.Fatalf("%s: %v", variant, err)
		}
		if len(problems) > 0 {
			t.Errorf("%s:\n%s", variant, strings.Join(problems, "\n"))
		}
		if n != 8 {
			t.Errorf("%s: %d objects, want 8 (namespace, redis x2, api x3, worker, autoscaler)", variant, n)
		}
	}
}

func TestBaseAloneIsNoVariant(t *testing.T) {
	problems, _, err := validateDir(manifests+"/base", external)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(problems, "\n"), "no replicas and no autoscaler") {
		t.Errorf("the base alone passed: %v", problems)
	}
}

func TestBrokenManifestsFail(t *testing.T) {
	cases := []struct {
		name, file, old, new string
		want                 string
	}{
		{"unknown field", "base/api.yaml", "readinessProbe:", "readinessProbes:", `unknown field "spec.template.spec.containers[0].readinessProbes"`},
		{"field in the wrong case", "base/api.yaml", "containerPort: 8080", "ContainerPort: 8080", "unknown field"},
		{"malformed quantity", "base/worker.yaml", "memory: 512Mi", "memory: 512MB", "quantities must match"},
		{"selector misses the pods", "base/worker.yaml",
			"matchLabels:\n      app.kubernetes.io/name: offload\n      app.kubernetes.io/component: worker",
			"matchLabels:\n      app.kubernetes.io/name: offload\n      app.kubernetes.io/component: workers",
			"does not match the pod template's labels"},
		{"grace below the job timeout", "base/worker.yaml", "terminationGracePeriodSeconds: 90",
			"terminationGracePeriodSeconds: 30", "not above the longest job"},
		{"job timeout raised past the grace", "base/worker.yaml", `"--task-timeout", "60s"`,
			`"--task-timeout", "5m"`, "not above the longest job"},
		{"replicas fight the autoscaler", "base/worker.yaml", "spec:\n  selector:", "spec:\n  replicas: 3\n  selector:",
			"spec.replicas is set"},
		{"worker on another Redis", "base/worker.yaml", `"--redis", "redis://redis:6379"`,
			`"--redis", "redis://redis-master:6379"`, "no Service redis-master"},
		{"worker as root", "base/worker.yaml", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot is not true"},
		{"writable root", "base/worker.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false",
			"readOnlyRootFilesystem is not true"},
		{"no memory limit", "base/worker.yaml", "memory: 128Mi\n            limits:\n              cpu: \"1\"\n              memory: 512Mi",
			"memory: 128Mi\n            limits:\n              cpu: \"1\"", "no resources.limits.memory"},
		{":latest pulled Always", "base/worker.yaml", "imagePullPolicy: IfNotPresent\n          command: [\"worker\"]",
			"command: [\"worker\"]", "defaults to Always"},
		{"api on loopback", "base/api.yaml", `"--listen", "0.0.0.0:8080"`, `"--listen", "127.0.0.1:8080"`,
			"neither the kubelet's probes nor the Service"},
		{"readiness on /healthz", "base/api.yaml", "path: /readyz", "path: /healthz", "asks /healthz, not /readyz"},
		{"no liveness probe", "base/api.yaml", "livenessProbe:", "startupProbe:", "no livenessProbe httpGet /healthz"},
		{"experiments on", "base/api.yaml", `"--listen", "0.0.0.0:8080",`, `"--listen", "0.0.0.0:8080", "--experiments",`,
			"--experiments"},
		{"token file outside its mount", "base/api.yaml", "value: /etc/offload/token/token",
			"value: /etc/offload/api-token", "is in no volume mounted"},
		{"api grace below --grace", "base/api.yaml", "terminationGracePeriodSeconds: 45",
			"terminationGracePeriodSeconds: 30", "requests in flight would be cut"},
		{"Service port to nowhere", "base/api.yaml", "targetPort: http", "targetPort: htp", "targetPort htp is no port"},
		{"Redis without AOF", "base/redis.yaml", `"--appendonly", "yes"`, `"--appendonly", "no"`, "no --appendonly yes"},
		{"Redis may evict", "base/redis.yaml", `"--maxmemory-policy", "noeviction"`, `"--maxmemory-policy", "allkeys-lru"`,
			"may evict jobs"},
		{"Redis Service not headless", "base/redis.yaml", "clusterIP: None", "type: ClusterIP", "not headless"},
		{"listLength as a number", "worker-scaledobject.yaml", `listLength: "10"`, `listLength: 10`,
			"cannot unmarshal number"},
		{"wrong queue key", "worker-scaledobject.yaml", "listName: offload:q:default", "listName: offload:queue:default",
			`listName "offload:queue:default" is not a queue list`},
		{"misspelt trigger setting", "worker-scaledobject.yaml", "listName:", "listname:", `metadata "listname"`},
		{"misspelt ScaledObject field", "worker-scaledobject.yaml", "maxReplicaCount:", "maxReplicas:", "unknown field"},
		{"address KEDA cannot resolve", "worker-scaledobject.yaml", "address: redis.offload.svc:6379",
			"address: redis:6379", "from its own namespace"},
		{"address of another Service", "worker-scaledobject.yaml", "address: redis.offload.svc:6379",
			"address: cache.offload.svc:6379", "no Service cache"},
		{"scales something else", "worker-scaledobject.yaml", "    name: offload-worker\n  # LLEN",
			"    name: offload-workers\n  # LLEN", "is no workload here"},
		{"KEDA and the HPA together", "kustomization.yaml", "  - worker-scaledobject.yaml",
			"  - worker-scaledobject.yaml\n  - hpa/worker-hpa.yaml", "two HPAs on one"},
		{"HPA on a missing Deployment", "hpa/worker-hpa.yaml", "name: offload-worker\n  minReplicas",
			"name: worker\n  minReplicas", "is no workload here"},
		{"a kind with no schema", "base/namespace.yaml", "kind: Namespace", "kind: Namespaces", "no schema for"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t)
			edit(t, dir, tc.file, tc.old, tc.new)
			got := validateAll(t, dir)
			if !strings.Contains(got, tc.want) {
				t.Errorf("want a problem containing %q, got:\n%s", tc.want, got)
			}
		})
	}
}

// A duplicate key is refused, whether by kustomize's parser or by ours.
func TestDuplicateKeyFails(t *testing.T) {
	dir := copyTree(t)
	edit(t, dir, "base/api.yaml", "  replicas: 2\n", "  replicas: 2\n  replicas: 3\n")
	if got := validateAll(t, dir); got == "" {
		t.Error("a duplicate key passed")
	}
}

func TestSecretMustBeDeclared(t *testing.T) {
	problems, _, err := validateDir(manifests, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(problems, "\n"), "Secret offload-api-token is neither") {
		t.Errorf("an undeclared Secret passed: %v", problems)
	}
	problems, _, _ = validateDir(manifests, []string{"offload-api-token", "stale"})
	if !strings.Contains(strings.Join(problems, "\n"), "-external-secret stale: no object uses it") {
		t.Errorf("an unused -external-secret passed: %v", problems)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]float64{"250ms": 0.25, "5s": 5, "1.5s": 1.5, "2m": 120, "1h": 3600, "10": 10} {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "5x", "-1s", "s"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) passed", in)
		}
	}
}

func TestParseRedisURL(t *testing.T) {
	a, err := parseRedisURL("redis://:secret@redis.offload.svc:6380/2")
	if err != nil || a.host != "redis.offload.svc" || a.port != 6380 || a.db != 2 {
		t.Errorf("got %+v, %v", a, err)
	}
	if _, err := parseRedisURL("unix:///run/redis.sock"); err == nil {
		t.Error("a unix socket URL passed as a Service")
	}
	for host, want := range map[string]string{"redis": "offload/redis", "redis.other": "other/redis",
		"redis.other.svc": "other/redis", "redis.other.svc.cluster.local": "other/redis"} {
		n, ns, ok := serviceOf(host, "offload")
		if !ok || ns+"/"+n != want {
			t.Errorf("serviceOf(%q) = %s/%s %v, want %s", host, ns, n, ok, want)
		}
	}
	if _, _, ok := serviceOf("redis.example.com", "offload"); ok {
		t.Error("an outside name passed as a Service")
	}
}
