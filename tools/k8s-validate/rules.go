package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Margins the rules allow, each with its reason.
const (
	// A stopping worker reports its last result and deregisters after the
	// job: a few round trips, given seconds for a slow Redis.
	workerStopMargin = 10.0
	// A stopping API closes its listener and its Redis connections after
	// --grace.
	apiStopMargin = 5.0
	// Redis's port when a URL or an address names none.
	redisPort = 6379
)

// workload is a Deployment or StatefulSet seen through what the rules need.
type workload struct {
	obj      *object
	ns       string
	tmpl     *corev1.PodTemplateSpec
	selector *metav1.LabelSelector
	replicas *int32
	claims   []corev1.PersistentVolumeClaim // a StatefulSet's volumeClaimTemplates
}

// objset is one directory's objects, indexed by "namespace/name", and the
// problems found in them.
type objset struct {
	objs          []*object
	namespaces    map[string]bool
	workloads     []*workload
	services      map[string]*corev1.Service
	configMaps    map[string]*corev1.ConfigMap
	secrets       map[string]bool
	external      map[string]bool // secrets made by hand, by name
	externalUsed  map[string]bool
	hpas          []*object
	scaledObjects []*object
	pdbs          []*object
	problems      []string
}

func (s *objset) addf(o *object, format string, args ...any) {
	s.problems = append(s.problems, o.ref()+": "+fmt.Sprintf(format, args...))
}

// checkRules checks offload's rules across one directory's objects and
// returns the problems, sorted.
func checkRules(objs []*object, externalSecrets []string) []string {
	s := &objset{
		objs: objs, namespaces: map[string]bool{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]bool{},
		external: map[string]bool{}, externalUsed: map[string]bool{},
	}
	for _, n := range externalSecrets {
		s.external[n] = true
	}
	for _, o := range objs {
		key := o.namespace + "/" + o.name
		switch v := o.obj.(type) {
		case *corev1.Namespace:
			s.namespaces[o.name] = true
		case *corev1.Service:
			s.services[key] = v
		case *corev1.ConfigMap:
			s.configMaps[key] = v
		case *corev1.Secret:
			s.secrets[key] = true
		case *appsv1.Deployment:
			s.workloads = append(s.workloads, &workload{obj: o, ns: o.namespace, tmpl: &v.Spec.Template,
				selector: v.Spec.Selector, replicas: v.Spec.Replicas})
		case *appsv1.StatefulSet:
			s.workloads = append(s.workloads, &workload{obj: o, ns: o.namespace, tmpl: &v.Spec.Template,
				selector: v.Spec.Selector, replicas: v.Spec.Replicas, claims: v.Spec.VolumeClaimTemplates})
		case *autoscalingv2.HorizontalPodAutoscaler:
			s.hpas = append(s.hpas, o)
		case *ScaledObject:
			s.scaledObjects = append(s.scaledObjects, o)
		case *policyv1.PodDisruptionBudget:
			s.pdbs = append(s.pdbs, o)
		}
	}
	for _, o := range objs {
		s.checkMeta(o)
	}
	for _, w := range s.workloads {
		s.checkWorkload(w)
	}
	for _, o := range objs {
		if svc, ok := o.obj.(*corev1.Service); ok {
			s.checkService(o, svc)
		}
	}
	for _, o := range s.pdbs {
		s.checkPDB(o, o.obj.(*policyv1.PodDisruptionBudget))
	}
	s.checkAutoscalers()
	s.checkSharedRedis()
	for n := range s.external {
		if !s.externalUsed[n] {
			s.problems = append(s.problems, fmt.Sprintf("-external-secret %s: no object uses it", n))
		}
	}
	sort.Strings(s.problems)
	return s.problems
}

// ---- metadata ----

func (s *objset) checkMeta(o *object) {
	if errs := validation.IsDNS1123Subdomain(o.name); len(errs) > 0 {
		s.addf(o, "metadata.name: %s", strings.Join(errs, "; "))
	}
	if o.kind == "Service" {
		if errs := validation.IsDNS1035Label(o.name); len(errs) > 0 {
			s.addf(o, "a Service's name must be a DNS label: %s", strings.Join(errs, "; "))
		}
	}
	for k, v := range o.meta.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			s.addf(o, "label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			s.addf(o, "label %s=%q: %s", k, v, strings.Join(errs, "; "))
		}
	}
	if o.kind == "Namespace" {
		if o.namespace != "" {
			s.addf(o, "a Namespace has no namespace")
		}
		return
	}
	if o.namespace == "" {
		s.addf(o, "no namespace: it would land in whatever namespace kubectl's context names")
	} else if !s.namespaces[o.namespace] {
		s.addf(o, "namespace %s is not made by these manifests", o.namespace)
	}
}

// ---- workloads and their containers ----

func (s *objset) checkWorkload(w *workload) {
	o, spec := w.obj, &w.tmpl.Spec
	if w.selector == nil || (len(w.selector.MatchLabels) == 0 && len(w.selector.MatchExpressions) == 0) {
		s.addf(o, "spec.selector is empty")
	} else if sel, err := metav1.LabelSelectorAsSelector(w.selector); err != nil {
		s.addf(o, "spec.selector: %v", err)
	} else if !sel.Matches(labels.Set(w.tmpl.Labels)) {
		s.addf(o, "spec.selector %s does not match the pod template's labels %v",
			metav1.FormatLabelSelector(w.selector), w.tmpl.Labels)
	}
	if len(spec.Containers) == 0 {
		s.addf(o, "no containers")
	}
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		if volumes[v.Name] {
			s.addf(o, "volume %s twice", v.Name)
		}
		volumes[v.Name] = true
		if v.Secret != nil {
			s.checkSecretRef(o, w.ns, v.Secret.SecretName, v.Secret.Optional)
		}
		if v.ConfigMap != nil {
			s.checkConfigMapRef(o, w.ns, v.ConfigMap.Name, v.ConfigMap.Optional)
		}
	}
	for _, c := range w.claims {
		volumes[c.Name] = true
		if len(c.Spec.AccessModes) == 0 {
			s.addf(o, "volumeClaimTemplate %s: no accessModes", c.Name)
		}
		if q, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || q.IsZero() {
			s.addf(o, "volumeClaimTemplate %s: no storage request", c.Name)
		}
	}
	if sts, ok := o.obj.(*appsv1.StatefulSet); ok {
		s.checkGoverningService(o, sts)
	}
	portNames := map[string]bool{}
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for i := range all {
		c := &all[i]
		for _, p := range c.Ports {
			if p.Name == "" {
				continue
			}
			if portNames[p.Name] {
				s.addf(o, "port name %s twice in the pod", p.Name)
			}
			portNames[p.Name] = true
		}
		s.checkContainer(w, c, volumes)
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		switch binaryOf(c) {
		case "api":
			s.checkAPI(w, c)
		case "worker":
			s.checkWorker(w, c)
		}
		if isRedis(c) {
			s.checkRedis(w, c)
		}
	}
}

// imageParts splits "registry/path/offload:tag@digest" into its last path
// component ("offload"), tag ("" when none) and whether it has a digest.
func imageParts(image string) (repo, tag string, digest bool) {
	if i := strings.Index(image, "@"); i >= 0 {
		image, digest = image[:i], true
	}
	last := image[strings.LastIndex(image, "/")+1:]
	repo, tag, _ = strings.Cut(last, ":")
	return repo, tag, digest
}

func isRedis(c *corev1.Container) bool {
	repo, _, _ := imageParts(c.Image)
	return repo == "redis" || binaryOf(c) == "redis-server"
}

var offloadBinaries = map[string]bool{"api": true, "worker": true, "loadgen": true, "slowsvc": true, "offload": true}

func (s *objset) checkContainer(w *workload, c *corev1.Container, volumes map[string]bool) {
	o := w.obj
	where := "container " + c.Name
	if errs := validation.IsDNS1123Label(c.Name); len(errs) > 0 {
		s.addf(o, "%s: name: %s", where, strings.Join(errs, "; "))
	}
	if c.Image == "" {
		s.addf(o, "%s: no image", where)
	}
	repo, tag, digest := imageParts(c.Image)
	switch c.ImagePullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		s.addf(o, "%s: imagePullPolicy %q is not Always, IfNotPresent or Never", where, c.ImagePullPolicy)
	}
	if (tag == "" || tag == "latest") && !digest && c.ImagePullPolicy == "" {
		s.addf(o, "%s: image %s: with no tag or :latest the pull policy defaults to Always, which fails for "+
			"an image loaded onto the nodes: set imagePullPolicy", where, c.Image)
	}
	if offloadBinaries[binaryOf(c)] && repo != "offload" {
		s.addf(o, "%s runs offload's %s from image %s, not offload", where, binaryOf(c), c.Image)
	}
	if repo == "offload" && !offloadBinaries[binaryOf(c)] {
		s.addf(o, "%s: image offload runs one of its binaries (api, worker, …), not %q", where, binaryOf(c))
	}

	// Resources: requests so the scheduler places the pod and the HPA has a
	// base; limits so one pod cannot starve its node.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[r]
		lim, hasLim := c.Resources.Limits[r]
		if !hasReq {
			s.addf(o, "%s: no resources.requests.%s", where, r)
		}
		if !hasLim {
			s.addf(o, "%s: no resources.limits.%s", where, r)
		}
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			s.addf(o, "%s: requests.%s %s above limits.%s %s", where, r, req.String(), r, lim.String())
		}
	}

	s.checkSecurity(w, c, where)

	for _, p := range c.Ports {
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			s.addf(o, "%s: containerPort %d", where, p.ContainerPort)
		}
		if p.Name != "" {
			if errs := validation.IsValidPortName(p.Name); len(errs) > 0 {
				s.addf(o, "%s: port name %q: %s", where, p.Name, strings.Join(errs, "; "))
			}
		}
	}
	for name, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe,
		"livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
		if p == nil {
			continue
		}
		n := 0
		if p.Exec != nil {
			n++
			if len(p.Exec.Command) == 0 {
				s.addf(o, "%s: %s: exec with no command", where, name)
			}
		}
		if p.HTTPGet != nil {
			n++
			if _, err := containerPort(c, p.HTTPGet.Port); err != nil {
				s.addf(o, "%s: %s: %v", where, name, err)
			}
		}
		if p.TCPSocket != nil {
			n++
			if _, err := containerPort(c, p.TCPSocket.Port); err != nil {
				s.addf(o, "%s: %s: %v", where, name, err)
			}
		}
		if p.GRPC != nil {
			n++
		}
		if n != 1 {
			s.addf(o, "%s: %s needs exactly one of exec, httpGet, tcpSocket, grpc (has %d)", where, name, n)
		}
	}
	paths := map[string]bool{}
	for _, m := range c.VolumeMounts {
		if !volumes[m.Name] {
			s.addf(o, "%s: volumeMount %s names no volume of the pod", where, m.Name)
		}
		if paths[m.MountPath] {
			s.addf(o, "%s: two volumes mounted at %s", where, m.MountPath)
		}
		paths[m.MountPath] = true
	}
	env := map[string]bool{}
	for _, e := range c.Env {
		if env[e.Name] {
			s.addf(o, "%s: env %s twice (the last one wins silently)", where, e.Name)
		}
		env[e.Name] = true
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			s.checkSecretRef(o, w.ns, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Optional)
		}
		if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			s.checkConfigMapRef(o, w.ns, e.ValueFrom.ConfigMapKeyRef.Name, e.ValueFrom.ConfigMapKeyRef.Optional)
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil {
			s.checkSecretRef(o, w.ns, ef.SecretRef.Name, ef.SecretRef.Optional)
		}
		if ef.ConfigMapRef != nil {
			s.checkConfigMapRef(o, w.ns, ef.ConfigMapRef.Name, ef.ConfigMapRef.Optional)
		}
	}
}

// checkSecurity: not root (and said with a number: the kubelet cannot check
// runAsNonRoot against an image's user name), no privilege escalation, no
// capabilities, a read-only root file system (writable places are volumes).
func (s *objset) checkSecurity(w *workload, c *corev1.Container, where string) {
	o, psc, csc := w.obj, w.tmpl.Spec.SecurityContext, c.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	nonRoot, user := psc.RunAsNonRoot, psc.RunAsUser
	if csc.RunAsNonRoot != nil {
		nonRoot = csc.RunAsNonRoot
	}
	if csc.RunAsUser != nil {
		user = csc.RunAsUser
	}
	if nonRoot == nil || !*nonRoot {
		s.addf(o, "%s: runAsNonRoot is not true", where)
	}
	if user == nil {
		s.addf(o, "%s: no numeric runAsUser: the kubelet refuses runAsNonRoot for an image whose user is a name", where)
	} else if *user == 0 {
		s.addf(o, "%s: runAsUser 0 is root", where)
	}
	if csc.Privileged != nil && *csc.Privileged {
		s.addf(o, "%s: privileged", where)
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		s.addf(o, "%s: allowPrivilegeEscalation is not false", where)
	}
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		s.addf(o, "%s: readOnlyRootFilesystem is not true", where)
	}
	dropsAll := false
	if csc.Capabilities != nil {
		for _, d := range csc.Capabilities.Drop {
			dropsAll = dropsAll || d == "ALL"
		}
		if len(csc.Capabilities.Add) > 0 {
			s.addf(o, "%s: adds capabilities %v", where, csc.Capabilities.Add)
		}
	}
	if !dropsAll {
		s.addf(o, "%s: capabilities.drop does not name ALL", where)
	}
}

// containerPort resolves a probe's or Service's port, a number or the name of
// one of the container's ports, to the number.
func containerPort(c *corev1.Container, p intstr.IntOrString) (int32, error) {
	if p.Type == intstr.String {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return cp.ContainerPort, nil
			}
		}
		return 0, fmt.Errorf("port %q is not a port of container %s", p.StrVal, c.Name)
	}
	if p.IntVal < 1 || p.IntVal > 65535 {
		return 0, fmt.Errorf("port %d is not 1..65535", p.IntVal)
	}
	return p.IntVal, nil
}

func (s *objset) checkSecretRef(o *object, ns, name string, optional *bool) {
	if s.secrets[ns+"/"+name] {
		return
	}
	if s.external[name] {
		s.externalUsed[name] = true
		return
	}
	if optional != nil && *optional {
		return
	}
	s.addf(o, "Secret %s is neither in the manifests nor declared made by hand (-external-secret)", name)
}

func (s *objset) checkConfigMapRef(o *object, ns, name string, optional *bool) {
	if s.configMaps[ns+"/"+name] == nil && (optional == nil || !*optional) {
		s.addf(o, "ConfigMap %s is not in the manifests", name)
	}
}

func (s *objset) checkGoverningService(o *object, sts *appsv1.StatefulSet) {
	svc := s.services[o.namespace+"/"+sts.Spec.ServiceName]
	switch {
	case sts.Spec.ServiceName == "":
		s.addf(o, "no serviceName")
	case svc == nil:
		s.addf(o, "serviceName %s: no such Service", sts.Spec.ServiceName)
	case svc.Spec.ClusterIP != corev1.ClusterIPNone:
		s.addf(o, "serviceName %s: not headless (clusterIP: None)", sts.Spec.ServiceName)
	case !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(sts.Spec.Template.Labels)):
		s.addf(o, "serviceName %s: the Service does not select this StatefulSet's pods", sts.Spec.ServiceName)
	}
}

// ---- offload's binaries ----

// terminationGrace is the pod's grace period in seconds (Kubernetes: 30).
func terminationGrace(w *workload) float64 {
	if g := w.tmpl.Spec.TerminationGracePeriodSeconds; g != nil {
		return float64(*g)
	}
	return 30
}

// preStopSleep: seconds a preStop hook of `sleep N` spends, else 0.
func preStopSleep(c *corev1.Container) float64 {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return 0
	}
	if sl := c.Lifecycle.PreStop.Sleep; sl != nil {
		return float64(sl.Seconds)
	}
	if ex := c.Lifecycle.PreStop.Exec; ex != nil && len(ex.Command) == 2 && ex.Command[0] == "sleep" {
		if n, err := strconv.ParseFloat(ex.Command[1], 64); err == nil {
			return n
		}
	}
	return 0
}

func truthy(v string) bool {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func (s *objset) checkAPI(w *workload, c *corev1.Container) {
	o, where := w.obj, "container "+c.Name+" (api)"
	listen, err := s.setting(w.ns, c, "listen", "API_LISTEN", "127.0.0.1:8080")
	if err != nil {
		s.addf(o, "%s: %v", where, err)
		return
	}
	host, port, err := splitHostPort(listen, 8080)
	if err != nil {
		s.addf(o, "%s: --listen %v", where, err)
		return
	}
	if host != "0.0.0.0" && host != "::" && host != "*" {
		s.addf(o, "%s: listens on %s: neither the kubelet's probes nor the Service reach that; "+
			"listen on 0.0.0.0:%d", where, listen, port)
	}
	declared := false
	for _, p := range c.Ports {
		declared = declared || p.ContainerPort == int32(port)
	}
	if !declared {
		s.addf(o, "%s: listens on port %d, which is not among its ports", where, port)
	}
	for _, pr := range []struct {
		name, path string
		probe      *corev1.Probe
		why        string
	}{
		{"readinessProbe", "/readyz", c.ReadinessProbe, "503 while Redis is down or slow: the pod leaves the Service"},
		{"livenessProbe", "/healthz", c.LivenessProbe, "200 while the event loop turns"},
	} {
		switch {
		case pr.probe == nil || pr.probe.HTTPGet == nil:
			s.addf(o, "%s: no %s httpGet %s (%s)", where, pr.name, pr.path, pr.why)
		case pr.probe.HTTPGet.Path != pr.path:
			s.addf(o, "%s: %s asks %s, not %s (%s)", where, pr.name, pr.probe.HTTPGet.Path, pr.path, pr.why)
		default:
			if p, err := containerPort(c, pr.probe.HTTPGet.Port); err == nil && p != int32(port) {
				s.addf(o, "%s: %s asks port %d, the API listens on %d", where, pr.name, p, port)
			}
		}
	}
	exp, err := s.envValueOrEmpty(w.ns, c, "API_EXPERIMENTS")
	if err != nil {
		s.addf(o, "%s: %v", where, err)
	}
	if hasFlag(c, "experiments") || truthy(exp) {
		s.addf(o, "%s: --experiments: /cpu?mode=inline stalls the event loop, /healthz with it, and the "+
			"liveness probe would restart the pod; they are for the benchmark, not a cluster", where)
	}
	if _, ok := flagValue(c, "auth-token"); ok {
		s.addf(o, "%s: --auth-token on the command line shows in ps: use API_TOKEN_FILE from a Secret", where)
	}
	if file, err := s.setting(w.ns, c, "auth-token-file", "API_TOKEN_FILE", ""); err != nil {
		s.addf(o, "%s: %v", where, err)
	} else if file != "" && !mountedUnder(c, file) {
		s.addf(o, "%s: API_TOKEN_FILE %s is in no volume mounted in the container", where, file)
	}
	graceS, err := s.setting(w.ns, c, "grace", "API_GRACE", "30s")
	if err == nil {
		var grace float64
		if grace, err = parseDuration(graceS); err == nil {
			need := preStopSleep(c) + grace + apiStopMargin
			if tg := terminationGrace(w); tg < need {
				s.addf(o, "%s: terminationGracePeriodSeconds %g is below preStop %g s + --grace %s + %g s: "+
					"requests in flight would be cut at every rollout", where, tg, preStopSleep(c), graceS, apiStopMargin)
			}
		}
	}
	if err != nil {
		s.addf(o, "%s: --grace: %v", where, err)
	}
	s.checkRedisURL(w, c, where)
}

func (s *objset) envValueOrEmpty(ns string, c *corev1.Container, name string) (string, error) {
	v, _, err := s.envValue(ns, c, name)
	return v, err
}

// mountedUnder: file lies inside one of c's volume mounts.
func mountedUnder(c *corev1.Container, file string) bool {
	for _, m := range c.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/") + "/"
		if strings.HasPrefix(file, dir) {
			return true
		}
	}
	return false
}

func (s *objset) checkWorker(w *workload, c *corev1.Container) {
	o, where := w.obj, "container "+c.Name+" (worker)"
	tts, err1 := s.setting(w.ns, c, "task-timeout", "WORKER_TASK_TIMEOUT", "60s")
	kgs, err2 := s.setting(w.ns, c, "kill-grace", "WORKER_KILL_GRACE", "2s")
	if err1 != nil || err2 != nil {
		s.addf(o, "%s: %v %v", where, err1, err2)
	} else {
		tt, err1 := parseDuration(tts)
		kg, err2 := parseDuration(kgs)
		if err1 != nil || err2 != nil {
			s.addf(o, "%s: --task-timeout/--kill-grace: %v %v", where, err1, err2)
		} else if need := tt + kg + workerStopMargin; terminationGrace(w) < need {
			s.addf(o, "%s: terminationGracePeriodSeconds %g is not above the longest job: --task-timeout %s "+
				"+ --kill-grace %s + %g s to report = %g s; every scale-down would kill running jobs",
				where, terminationGrace(w), tts, kgs, workerStopMargin, need)
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil {
		s.addf(o, "%s: a worker serves no HTTP: its liveness is its heartbeat in Redis", where)
	}
	s.checkRedisURL(w, c, where)
}

// checkRedisURL: the container's --redis names a Service of these manifests
// that serves Redis on that port.
func (s *objset) checkRedisURL(w *workload, c *corev1.Container, where string) {
	u, err := s.setting(w.ns, c, "redis", "REDIS_URL", "redis://127.0.0.1:6379")
	if err != nil {
		s.addf(w.obj, "%s: %v", where, err)
		return
	}
	a, err := parseRedisURL(u)
	if err != nil {
		s.addf(w.obj, "%s: --redis %v", where, err)
		return
	}
	name, ns, ok := serviceOf(a.host, w.ns)
	if !ok {
		s.addf(w.obj, "%s: --redis host %s is not a Service name", where, a.host)
		return
	}
	if err := s.servesRedis(ns, name, a.port); err != nil {
		s.addf(w.obj, "%s: --redis %s: %v", where, u, err)
	}
}

// servesRedis: Service ns/name exists, has port, and selects a pod whose
// Redis container serves that port's target.
func (s *objset) servesRedis(ns, name string, port int) error {
	svc := s.services[ns+"/"+name]
	if svc == nil {
		return fmt.Errorf("no Service %s in namespace %s", name, ns)
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == int32(port) {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		return fmt.Errorf("Service %s has no port %d", name, port)
	}
	for _, t := range s.serviceTargets(svc, ns) {
		for i := range t.tmpl.Spec.Containers {
			c := &t.tmpl.Spec.Containers[i]
			if !isRedis(c) {
				continue
			}
			if _, err := containerPort(c, targetPort(sp)); err == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("Service %s selects no Redis container serving its port %d", name, port)
}

func targetPort(sp *corev1.ServicePort) intstr.IntOrString {
	if sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == 0 && sp.TargetPort.StrVal == "" {
		return intstr.FromInt32(sp.Port)
	}
	return sp.TargetPort
}

// redisArgs: redis-server's options (the official image's entrypoint takes
// args starting with "-" as redis-server's).
func redisArgs(c *corev1.Container) []string {
	all := append(append([]string{}, c.Command...), c.Args...)
	if len(all) > 0 && !strings.HasPrefix(all[0], "-") {
		all = all[1:]
	}
	return all
}

func redisOption(args []string, name string) (string, bool) {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--"+name {
			return args[i+1], true
		}
	}
	return "", false
}

// checkRedis: jobs that got a 202 survive a restart only with the AOF on, on
// a volume that outlives the pod; and the API refuses a Redis that may evict.
func (s *objset) checkRedis(w *workload, c *corev1.Container) {
	o, where, args := w.obj, "container "+c.Name+" (redis)", redisArgs(c)
	if v, _ := redisOption(args, "appendonly"); v != "yes" {
		s.addf(o, "%s: no --appendonly yes: a Redis restart would lose every queued job", where)
	}
	if v, ok := redisOption(args, "maxmemory-policy"); ok && v != "noeviction" {
		s.addf(o, "%s: --maxmemory-policy %s may evict jobs; the API refuses to be ready on it", where, v)
	}
	dir, ok := redisOption(args, "dir")
	if !ok {
		s.addf(o, "%s: no --dir: the AOF's place is the image's working directory", where)
		return
	}
	claims := map[string]bool{}
	for _, cl := range w.claims {
		claims[cl.Name] = true
	}
	for _, m := range c.VolumeMounts {
		if strings.TrimSuffix(m.MountPath, "/") == strings.TrimSuffix(dir, "/") {
			if !claims[m.Name] {
				s.addf(o, "%s: --dir %s is volume %s, not a volumeClaimTemplate: the AOF dies with the pod",
					where, dir, m.Name)
			}
			return
		}
	}
	s.addf(o, "%s: --dir %s is no volume mount: the AOF dies with the pod", where, dir)
}

// ---- Services and disruption budgets ----

// serviceTargets: the workloads in ns whose pods svc selects.
func (s *objset) serviceTargets(svc *corev1.Service, ns string) []*workload {
	if len(svc.Spec.Selector) == 0 {
		return nil
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var ws []*workload
	for _, w := range s.workloads {
		if w.ns == ns && sel.Matches(labels.Set(w.tmpl.Labels)) {
			ws = append(ws, w)
		}
	}
	return ws
}

func (s *objset) checkService(o *object, svc *corev1.Service) {
	if len(svc.Spec.Selector) == 0 {
		s.addf(o, "no selector")
		return
	}
	targets := s.serviceTargets(svc, o.namespace)
	if len(targets) == 0 {
		s.addf(o, "selector %s matches the pods of no workload here", labels.Set(svc.Spec.Selector))
	}
	if len(svc.Spec.Ports) == 0 {
		s.addf(o, "no ports")
	}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if len(svc.Spec.Ports) > 1 && sp.Name == "" {
			s.addf(o, "port %d: several ports need names", sp.Port)
		}
		tp := targetPort(sp)
		for _, t := range targets {
			found := false
			for j := range t.tmpl.Spec.Containers {
				c := &t.tmpl.Spec.Containers[j]
				if tp.Type == intstr.String {
					_, err := containerPort(c, tp)
					found = found || err == nil
					continue
				}
				for _, cp := range c.Ports {
					found = found || cp.ContainerPort == tp.IntVal
				}
			}
			if !found {
				s.addf(o, "port %d: targetPort %s is no port of %s's containers", sp.Port, tp.String(), t.obj.ref())
			}
		}
	}
}

func (s *objset) checkPDB(o *object, pdb *policyv1.PodDisruptionBudget) {
	if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
		s.addf(o, "needs exactly one of minAvailable and maxUnavailable")
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || pdb.Spec.Selector == nil || sel.Empty() {
		s.addf(o, "selector is empty or invalid")
		return
	}
	for _, w := range s.workloads {
		if w.ns == o.namespace && sel.Matches(labels.Set(w.tmpl.Labels)) {
			return
		}
	}
	s.addf(o, "selector %s matches the pods of no workload here", metav1.FormatLabelSelector(pdb.Spec.Selector))
}

// ---- autoscaling ----

func (s *objset) workloadByRef(ns, apiVersion, kind, name string) *workload {
	for _, w := range s.workloads {
		if w.ns == ns && w.obj.kind == kind && w.obj.name == name && apiVersion == "apps/v1" {
			return w
		}
	}
	return nil
}

func (s *objset) checkAutoscalers() {
	scaledBy := map[*workload][]string{}
	for _, o := range s.hpas {
		h := o.obj.(*autoscalingv2.HorizontalPodAutoscaler)
		ref := h.Spec.ScaleTargetRef
		w := s.workloadByRef(o.namespace, ref.APIVersion, ref.Kind, ref.Name)
		if w == nil {
			s.addf(o, "scaleTargetRef %s %s/%s is no workload here", ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		scaledBy[w] = append(scaledBy[w], o.ref())
		min := int32(1)
		if h.Spec.MinReplicas != nil {
			min = *h.Spec.MinReplicas
		}
		if min < 1 || min > h.Spec.MaxReplicas {
			s.addf(o, "minReplicas %d, maxReplicas %d", min, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) == 0 {
			s.addf(o, "no metrics")
		}
		for _, m := range h.Spec.Metrics {
			if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
				continue
			}
			if m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
				for _, c := range w.tmpl.Spec.Containers {
					if _, ok := c.Resources.Requests[m.Resource.Name]; !ok {
						s.addf(o, "%s utilization of %s: container %s requests no %s, so there is nothing "+
							"to measure against", m.Resource.Name, w.obj.ref(), c.Name, m.Resource.Name)
					}
				}
			}
		}
	}
	for _, o := range s.scaledObjects {
		so := o.obj.(*ScaledObject)
		w := s.checkScaledObject(o, so)
		if w != nil {
			scaledBy[w] = append(scaledBy[w], o.ref())
		}
	}
	for _, w := range s.workloads {
		by := scaledBy[w]
		switch {
		case len(by) > 1:
			s.addf(w.obj, "scaled by %s at once: each makes an HPA (KEDA its own), and two HPAs on one "+
				"workload fight; use one", strings.Join(by, " and "))
		case len(by) == 1 && w.replicas != nil:
			s.addf(w.obj, "spec.replicas is set but %s owns the count: every kubectl apply would reset it", by[0])
		case len(by) == 0 && w.replicas == nil && hasBinary(w, "worker"):
			s.addf(w.obj, "no replicas and no autoscaler: one worker, never more (apply ../ or ../hpa, "+
				"not the base)")
		}
	}
}

func hasBinary(w *workload, bin string) bool {
	for i := range w.tmpl.Spec.Containers {
		if binaryOf(&w.tmpl.Spec.Containers[i]) == bin {
			return true
		}
	}
	return false
}

// checkScaledObject returns the workload it scales, or nil.
func (s *objset) checkScaledObject(o *object, so *ScaledObject) *workload {
	sp := &so.Spec
	if sp.ScaleTargetRef == nil || sp.ScaleTargetRef.Name == "" {
		s.addf(o, "no scaleTargetRef.name")
		return nil
	}
	ref := *sp.ScaleTargetRef
	if ref.APIVersion == "" {
		ref.APIVersion = "apps/v1"
	}
	if ref.Kind == "" {
		ref.Kind = "Deployment"
	}
	w := s.workloadByRef(o.namespace, ref.APIVersion, ref.Kind, ref.Name)
	if w == nil {
		s.addf(o, "scaleTargetRef %s %s/%s is no workload here", ref.APIVersion, ref.Kind, ref.Name)
	}
	min, max := int32(0), int32(100)
	if sp.MinReplicaCount != nil {
		min = *sp.MinReplicaCount
	}
	if sp.MaxReplicaCount != nil {
		max = *sp.MaxReplicaCount
	}
	if min < 0 || max < 1 || min > max {
		s.addf(o, "minReplicaCount %d, maxReplicaCount %d", min, max)
	}
	if sp.IdleReplicaCount != nil && *sp.IdleReplicaCount >= min {
		s.addf(o, "idleReplicaCount must be below minReplicaCount")
	}
	if f := sp.Fallback; f != nil && (f.FailureThreshold < 1 || f.Replicas < 1) {
		s.addf(o, "fallback needs failureThreshold and replicas of at least 1")
	}
	if len(sp.Triggers) == 0 {
		s.addf(o, "no triggers")
	}
	for i := range sp.Triggers {
		t := &sp.Triggers[i]
		if t.Type != "redis" {
			s.addf(o, "trigger %d: type %q is not known to k8s-validate (keda.go knows redis)", i, t.Type)
			continue
		}
		s.checkRedisTrigger(o, i, t, w)
	}
	return w
}

// checkRedisTrigger: the redis (lists) scaler's metadata is all known keys,
// its address is this Redis as KEDA's operator (in another namespace) can
// resolve it, and its list is a queue the target's workers serve.
func (s *objset) checkRedisTrigger(o *object, i int, t *KedaTrigger, w *workload) {
	md := t.Metadata
	for k := range md {
		if !redisTriggerKeys[k] {
			s.addf(o, "trigger %d: metadata %q is not a redis scaler setting (typo?)", i, k)
		}
	}
	if t.AuthenticationRef != nil {
		s.addf(o, "trigger %d: authenticationRef %s: k8s-validate does not know TriggerAuthentication", i,
			t.AuthenticationRef.Name)
	}
	if n, err := strconv.Atoi(md["listLength"]); err != nil || n < 1 {
		s.addf(o, "trigger %d: listLength %q is not a whole number of at least 1", i, md["listLength"])
	}
	if v, ok := md["activationListLength"]; ok {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			s.addf(o, "trigger %d: activationListLength %q is not a whole number", i, v)
		}
	}
	db := 0
	if v, ok := md["databaseIndex"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.addf(o, "trigger %d: databaseIndex %q is not a whole number", i, v)
		}
		db = n
	}
	addr := md["address"]
	if addr == "" && md["host"] != "" {
		addr = md["host"] + ":" + md["port"]
	}
	if addr == "" {
		s.addf(o, "trigger %d: no address (or host and port)", i)
		return
	}
	host, port, err := splitHostPort(addr, 0)
	if err != nil || port == 0 {
		s.addf(o, "trigger %d: address %q is not host:port", i, addr)
		return
	}
	name, ns, ok := serviceOf(host, o.namespace)
	if !ok {
		s.addf(o, "trigger %d: address host %s is not a Service name", i, host)
		return
	}
	if !strings.Contains(host, ".") {
		s.addf(o, "trigger %d: address %s: KEDA's operator resolves it from its own namespace; name the "+
			"Service's namespace too (%s.%s.svc:%d)", i, addr, name, o.namespace, port)
	}
	if err := s.servesRedis(ns, name, port); err != nil {
		s.addf(o, "trigger %d: address %s: %v", i, addr, err)
	}
	if w == nil {
		return
	}
	// The list: {prefix}q:{queue} (README "Redis keys") for a queue the
	// target's workers serve, on the Redis and database they use.
	var want []string
	workers := 0
	for j := range w.tmpl.Spec.Containers {
		c := &w.tmpl.Spec.Containers[j]
		if binaryOf(c) != "worker" {
			continue
		}
		workers++
		queues, err1 := s.setting(w.ns, c, "queues", "WORKER_QUEUES", "default")
		prefix, err2 := s.setting(w.ns, c, "prefix", "REDIS_PREFIX", "offload:")
		u, err3 := s.setting(w.ns, c, "redis", "REDIS_URL", "redis://127.0.0.1:6379")
		if err1 != nil || err2 != nil || err3 != nil {
			s.addf(o, "trigger %d: the worker's settings cannot be read: %v %v %v", i, err1, err2, err3)
			return
		}
		for _, q := range strings.Split(queues, ",") {
			if q = strings.TrimSpace(q); q != "" {
				want = append(want, prefix+"q:"+q)
			}
		}
		if a, err := parseRedisURL(u); err == nil {
			wname, wns, _ := serviceOf(a.host, w.ns)
			if wname != name || wns != ns || a.port != port || a.db != db {
				s.addf(o, "trigger %d: watches %s db %d, but the workers of %s use %s", i, addr, db, w.obj.ref(), u)
			}
		}
	}
	if workers == 0 {
		s.addf(o, "scales %s, which runs no worker", w.obj.ref())
		return
	}
	list := md["listName"]
	for _, k := range want {
		if k == list {
			return
		}
	}
	s.addf(o, "trigger %d: listName %q is not a queue list the workers of %s serve (%s)", i, list,
		w.obj.ref(), strings.Join(want, ", "))
}

// checkSharedRedis: every API and worker uses one Redis, database and prefix;
// otherwise jobs are pushed where no worker looks.
func (s *objset) checkSharedRedis() {
	type use struct{ key, who string }
	var uses []use
	for _, w := range s.workloads {
		for i := range w.tmpl.Spec.Containers {
			c := &w.tmpl.Spec.Containers[i]
			if b := binaryOf(c); b != "api" && b != "worker" {
				continue
			}
			u, err1 := s.setting(w.ns, c, "redis", "REDIS_URL", "redis://127.0.0.1:6379")
			prefix, err2 := s.setting(w.ns, c, "prefix", "REDIS_PREFIX", "offload:")
			a, err3 := parseRedisURL(u)
			if err1 != nil || err2 != nil || err3 != nil {
				continue // reported by the container's own checks
			}
			name, ns, _ := serviceOf(a.host, w.ns)
			uses = append(uses, use{fmt.Sprintf("%s.%s:%d db %d prefix %q", name, ns, a.port, a.db, prefix),
				w.obj.ref() + " container " + c.Name})
		}
	}
	for _, u := range uses[min(1, len(uses)):] {
		if u.key != uses[0].key {
			s.problems = append(s.problems, fmt.Sprintf("%s uses Redis %s but %s uses %s: jobs would go where "+
				"no worker looks", u.who, u.key, uses[0].who, uses[0].key))
		}
	}
}
