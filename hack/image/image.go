// Command image builds the project's container images from static binaries, without a Docker
// engine and without a base image to pull: one layer holding /<binary name>, the entrypoint, run
// as a non-root user. It writes an OCI image layout as a tar archive ("oci-archive": podman load,
// skopeo copy oci-archive:..., ctr images import read it), and checks an archive it or anyone
// else built. Every image of the project (the operator, the data plane, the local cluster's
// pause and probe images) is built by this one builder.
//
//	go run . -binary ../../bin/manager -tag serverlessplane-operator:dev -out ../../bin/image.tar
//	go run . -check ../../bin/image.tar
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// User is the non-root user and group every image runs as.
const User = "65532:65532"

// containerdNameAnnotation names the image for `ctr images import`, which otherwise needs
// --base-name to turn a bare tag into a reference that the CRI plugin finds.
const containerdNameAnnotation = "io.containerd.image.name"

func main() {
	binary := flag.String("binary", "", "the static binary to package; it becomes /<its name>, the entrypoint")
	out := flag.String("out", "", "where to write the image tarball")
	tag := flag.String("tag", "serverlessplane-operator:dev", "the image reference recorded in the tarball")
	check := flag.String("check", "", "check an image tarball instead of building one")
	var add addFlags
	flag.Var(&add, "add", "a directory to add read-only, as <dir>=<absolute path in the image>; repeatable")
	flag.Parse()
	var err error
	switch {
	case *check != "":
		var report string
		report, err = Check(*check)
		fmt.Print(report)
	case *binary != "" && *out != "":
		err = Build(*binary, *tag, *out, add...)
		if err == nil {
			fmt.Printf("wrote %s (%s)\n", *out, *tag)
		}
	default:
		err = errors.New("usage: image -binary <manager> -out <tar> [-tag ref] | image -check <tar>")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// addFlags are the -add flags: directories to put in the image.
type addFlags []Dir

func (a *addFlags) String() string { return fmt.Sprint(*a) }

func (a *addFlags) Set(v string) error {
	src, dst, ok := strings.Cut(v, "=")
	if !ok || src == "" || !strings.HasPrefix(dst, "/") {
		return fmt.Errorf("-add %q is not <dir>=<absolute path>", v)
	}
	*a = append(*a, Dir{Source: src, Target: dst})
	return nil
}

// Dir is a directory of the build machine added to the image at Target, read-only.
type Dir struct{ Source, Target string }

// Build packages binary as the image's only layer, at /<its base name>, the entrypoint, with
// the added directories, and writes the tarball.
func Build(binary, tag, out string, dirs ...Dir) error {
	ref, err := name.ParseReference(tag)
	if err != nil {
		return err
	}
	entrypoint := "/" + filepath.Base(binary)
	data, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	if err := static(data); err != nil {
		return fmt.Errorf("%s: %w (build it with CGO_ENABLED=0, or link it statically)", binary, err)
	}
	files, err := readDirs(dirs)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar(entrypoint, data, files))), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{CreatedBy: "hack/image: COPY " + filepath.Base(binary) + " " + entrypoint, Created: v1.Time{Time: time.Unix(0, 0)}}})
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config.Entrypoint = []string{entrypoint}
	cfg.Config.User = User
	cfg.Config.WorkingDir = "/"
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":  repositoryName(ref),
		"org.opencontainers.image.source": "https://github.com/serverlessplane/operator",
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "serverlessplane-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	annotations := map[string]string{"org.opencontainers.image.ref.name": tag, containerdNameAnnotation: containerdName(tag)}
	platform := layout.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH})
	if err := p.AppendImage(img, layout.WithAnnotations(annotations), platform); err != nil {
		return err
	}
	return tarDir(dir, out)
}

// tarDir archives an OCI layout directory, with zero timestamps so that builds reproduce.
func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: time.Unix(0, 0), Format: tar.FormatPAX, Mode: 0o644}
		if d.IsDir() {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			return tw.WriteHeader(h)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		f.Close()
		return err
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// untar extracts an OCI layout archive into dir.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, filepath.Clean(dir)+string(os.PathSeparator)) {
			return fmt.Errorf("%s escapes the archive", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			data, err := io.ReadAll(io.LimitReader(tr, 1<<30))
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, data, 0o644); err != nil {
				return err
			}
		}
	}
}

// repositoryName is the last path element of the reference's repository: the image's title.
func repositoryName(ref name.Reference) string {
	repo := ref.Context().RepositoryStr()
	return repo[strings.LastIndex(repo, "/")+1:]
}

// containerdName is tag as the CRI plugin looks it up: a reference without a registry is on
// docker.io, and a one-element path is under library/ (Docker's normalization).
func containerdName(tag string) string {
	first, _, hasSlash := strings.Cut(tag, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return tag
	}
	if !hasSlash {
		tag = "library/" + tag
	}
	return "docker.io/" + tag
}

// layerTar is a tar with the binary at path, executable by anyone, owned by root so that the
// non-root user cannot change it. Timestamps are zero, so the same binary gives the same layer
// digest.
func layerTar(path string, binary []byte, files []file) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(path, "/"), Mode: 0o755, Size: int64(len(binary)),
		Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX})
	_, _ = tw.Write(binary)
	for _, f := range files {
		h := &tar.Header{Name: strings.TrimPrefix(f.path, "/"), Mode: 0o644, Size: int64(len(f.data)),
			Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if f.dir {
			h.Name, h.Mode, h.Size, h.Typeflag = h.Name+"/", 0o755, 0, tar.TypeDir
		}
		_ = tw.WriteHeader(h)
		_, _ = tw.Write(f.data)
	}
	_ = tw.Close()
	return buf.Bytes()
}

// file is an entry of an added directory.
type file struct {
	path string
	dir  bool
	data []byte
}

// readDirs reads the added directories, parents first and in name order, so that the same
// files give the same layer.
func readDirs(dirs []Dir) ([]file, error) {
	var files []file
	seen := map[string]bool{}
	for _, d := range dirs {
		// The target's parents, then the tree.
		parts := strings.Split(strings.Trim(d.Target, "/"), "/")
		for i := range parts {
			p := "/" + strings.Join(parts[:i+1], "/")
			if !seen[p] {
				seen[p] = true
				files = append(files, file{path: p, dir: true})
			}
		}
		err := filepath.WalkDir(d.Source, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(d.Source, path)
			if rel == "." {
				return nil
			}
			target := filepath.ToSlash(filepath.Join(d.Target, rel))
			if e.IsDir() {
				files = append(files, file{path: target, dir: true})
				return nil
			}
			if !e.Type().IsRegular() {
				return fmt.Errorf("%s is not a regular file", path)
			}
			data, err := os.ReadFile(path)
			files = append(files, file{path: target, data: data})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// static fails for a binary that needs a dynamic loader, which an image without a base lacks.
func static(data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked")
		}
	}
	return nil
}

// Check reads an image tarball and verifies what the project's workloads rely on: a single
// entrypoint, a non-root user, and a single layer whose entrypoint is a static executable.
func Check(path string) (string, error) {
	dir, err := os.MkdirTemp("", "serverlessplane-image-check-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := untar(path, dir); err != nil {
		return "", err
	}
	index, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return "", fmt.Errorf("not an OCI image layout: %w", err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return "", err
	}
	if len(manifest.Manifests) != 1 {
		return "", fmt.Errorf("%d images in the archive, want 1", len(manifest.Manifests))
	}
	img, err := index.Image(manifest.Manifests[0].Digest)
	if err != nil {
		return "", err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	digest, _ := img.Digest()
	mt, _ := img.MediaType()
	var report strings.Builder
	fmt.Fprintf(&report, "image %s (%s)\n  media type %s\n  entrypoint %v\n  user %s\n  platform %s/%s\n  layers %d\n",
		digest, manifest.Manifests[0].Annotations["org.opencontainers.image.ref.name"], mt, cfg.Config.Entrypoint, cfg.Config.User, cfg.OS, cfg.Architecture, len(layers))
	var problems []string
	if len(cfg.Config.Entrypoint) != 1 || !strings.HasPrefix(cfg.Config.Entrypoint[0], "/") {
		problems = append(problems, fmt.Sprintf("entrypoint is %v, want one absolute path", cfg.Config.Entrypoint))
	}
	if u := cfg.Config.User; u == "" || u == "0" || u == "root" || strings.HasPrefix(u, "0:") {
		problems = append(problems, fmt.Sprintf("user is %q, want a non-root uid", u))
	}
	if len(layers) != 1 {
		problems = append(problems, fmt.Sprintf("%d layers, want 1", len(layers)))
	} else if len(cfg.Config.Entrypoint) == 1 {
		if err := checkLayer(layers[0], cfg.Config.Entrypoint[0], &report); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return report.String(), errors.New(strings.Join(problems, "; "))
	}
	report.WriteString("  ok\n")
	return report.String(), nil
}

// checkLayer finds the entrypoint in the layer and checks that it is a static executable.
func checkLayer(layer v1.Layer, entrypoint string, report *strings.Builder) error {
	rc, err := layer.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("the layer has no %s", entrypoint)
		}
		if err != nil {
			return err
		}
		if "/"+strings.TrimPrefix(h.Name, "./") != entrypoint {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		fmt.Fprintf(report, "  %s: %d bytes, mode %o\n", entrypoint, len(data), h.Mode)
		if h.Mode&0o111 == 0 {
			return fmt.Errorf("%s is not executable", entrypoint)
		}
		return static(data)
	}
}
