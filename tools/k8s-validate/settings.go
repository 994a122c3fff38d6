package main

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// binaryOf names the offload binary a container runs ("api", "worker", …):
// the first word of its command, else of its args (the image has no
// entrypoint), without its directory.
func binaryOf(c *corev1.Container) string {
	if len(c.Command) > 0 {
		return path.Base(c.Command[0])
	}
	if len(c.Args) > 0 {
		return path.Base(c.Args[0])
	}
	return ""
}

// argv is the container's command line after the binary.
func argv(c *corev1.Container) []string {
	all := append(append([]string{}, c.Command...), c.Args...)
	if len(all) == 0 {
		return nil
	}
	return all[1:]
}

// flagValue finds --name X or --name=X on the command line; the last one
// wins, as offload's config_parse does.
func flagValue(c *corev1.Container, name string) (string, bool) {
	args := argv(c)
	val, found := "", false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return val, found
		case a == "--"+name && i+1 < len(args):
			val, found = args[i+1], true
			i++
		case strings.HasPrefix(a, "--"+name+"="):
			val, found = strings.TrimPrefix(a, "--"+name+"="), true
		}
	}
	return val, found
}

// hasFlag: a boolean flag given on the command line.
func hasFlag(c *corev1.Container, name string) bool {
	for _, a := range argv(c) {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

// envValue is what variable name holds in container c: env wins over envFrom
// (as in Kubernetes), values from ConfigMaps in the set are resolved, values
// from Secrets cannot be read and are an error.
func (s *objset) envValue(ns string, c *corev1.Container, name string) (string, bool, error) {
	for i := len(c.Env) - 1; i >= 0; i-- {
		e := c.Env[i]
		if e.Name != name {
			continue
		}
		if e.ValueFrom == nil {
			return e.Value, true, nil
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			cm := s.configMaps[ns+"/"+r.Name]
			if cm == nil {
				return "", false, fmt.Errorf("%s: ConfigMap %s is not in the manifests", name, r.Name)
			}
			v, ok := cm.Data[r.Key]
			return v, ok, nil
		}
		return "", false, fmt.Errorf("%s comes from a Secret or a field: its value cannot be checked", name)
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			cm := s.configMaps[ns+"/"+ef.ConfigMapRef.Name]
			if cm == nil {
				continue // reported by the reference check
			}
			if v, ok := cm.Data[strings.TrimPrefix(name, ef.Prefix)]; ok && strings.HasPrefix(name, ef.Prefix) {
				return v, true, nil
			}
		}
		if ef.SecretRef != nil {
			return "", false, fmt.Errorf("%s may come from Secret %s (envFrom): its value cannot be checked",
				name, ef.SecretRef.Name)
		}
	}
	return "", false, nil
}

// setting is an offload setting as the binary will see it: the flag, else its
// environment twin, else the binary's default.
func (s *objset) setting(ns string, c *corev1.Container, flag, env, def string) (string, error) {
	if v, ok := flagValue(c, flag); ok {
		return v, nil
	}
	if env != "" {
		v, ok, err := s.envValue(ns, c, env)
		if err != nil {
			return "", err
		}
		if ok {
			return v, nil
		}
	}
	return def, nil
}

var durationRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$`)

// parseDuration reads offload's durations: "250ms", "5s", "1.5s", "2m", "1h";
// a bare number is seconds. Returns seconds.
func parseDuration(s string) (float64, error) {
	m := durationRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a duration (250ms, 5s, 2m, 1h)", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.IsInf(n, 0) {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	switch m[2] {
	case "ms":
		return n / 1000, nil
	case "m":
		return n * 60, nil
	case "h":
		return n * 3600, nil
	}
	return n, nil
}

// redisAddr is a redis://[:password@]host[:port][/db] URL taken apart.
type redisAddr struct {
	host string
	port int
	db   int
}

func parseRedisURL(u string) (redisAddr, error) {
	a := redisAddr{port: 6379}
	rest, ok := strings.CutPrefix(u, "redis://")
	if !ok {
		return a, fmt.Errorf("%q: only redis:// URLs can be checked", u)
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	hostport, db, hasDB := strings.Cut(rest, "/")
	if hasDB && db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return a, fmt.Errorf("%q: database %q is not a number", u, db)
		}
		a.db = n
	}
	h, p, err := splitHostPort(hostport, 6379)
	if err != nil {
		return a, fmt.Errorf("%q: %v", u, err)
	}
	a.host, a.port = h, p
	return a, nil
}

// splitHostPort takes "host", "host:port", "[v6]:port" apart.
func splitHostPort(hp string, defPort int) (string, int, error) {
	host, port := hp, ""
	if strings.HasPrefix(hp, "[") {
		end := strings.Index(hp, "]")
		if end < 0 {
			return "", 0, fmt.Errorf("%q: unclosed [", hp)
		}
		host, port = hp[1:end], strings.TrimPrefix(hp[end+1:], ":")
	} else if i := strings.LastIndex(hp, ":"); i >= 0 {
		host, port = hp[:i], hp[i+1:]
	}
	if host == "" {
		return "", 0, fmt.Errorf("%q: no host", hp)
	}
	if port == "" {
		return host, defPort, nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not 1..65535", hp, port)
	}
	return host, n, nil
}

// serviceOf maps a DNS name a pod in namespace ns uses to the Service it
// names: "redis", "redis.offload", "redis.offload.svc" or
// "redis.offload.svc.cluster.local". ok is false for anything else (an IP, a
// name outside the cluster).
func serviceOf(host, ns string) (name, namespace string, ok bool) {
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	switch {
	case len(parts) == 1:
		return parts[0], ns, true
	case len(parts) == 2:
		return parts[0], parts[1], true
	case len(parts) >= 3 && parts[2] == "svc":
		return parts[0], parts[1], true
	}
	return "", "", false
}
