// Command ociimage packs files into a one-layer OCI image (an image layout in
// a tar archive, as `ctr images import` and `docker load` read it), with no
// base image and no registry: the local cluster's pause image is its pause
// binary alone, built this way. The archive is reproducible: fixed times and
// owners, so the same files give the same digest.
//
//	ociimage -o pause.tar -name localhost/paas/pause:1 -entrypoint /pause /path/to/pause=/pause
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"strings"
	"time"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int               `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func main() {
	out := flag.String("o", "", "output archive")
	name := flag.String("name", "", "image name with tag, e.g. localhost/paas/pause:1")
	entrypoint := flag.String("entrypoint", "", "absolute path of the program in the image")
	user := flag.String("user", "65535:65535", "user the image runs as")
	flag.Parse()
	if *out == "" || *name == "" || *entrypoint == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: ociimage -o out.tar -name repo:tag -entrypoint /prog src=/dst ...")
		os.Exit(2)
	}
	if err := run(*out, *name, *entrypoint, *user, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(out, name, entrypoint, user string, files []string) error {
	epoch := time.Unix(0, 0)
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	for _, f := range files {
		src, dst, ok := strings.Cut(f, "=")
		if !ok || !path.IsAbs(dst) {
			return fmt.Errorf("%q: want src=/absolute/dst", f)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		info, err := os.Stat(src)
		if err != nil {
			return err
		}
		hdr := &tar.Header{
			Name: strings.TrimPrefix(dst, "/"), Mode: int64(info.Mode().Perm()), Size: int64(len(data)),
			ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	var layer bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&layer, gzip.BestSpeed)
	gz.ModTime = epoch
	if _, err := gz.Write(layerTar.Bytes()); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}

	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      epoch.UTC().Format(time.RFC3339),
		"config":       map[string]any{"Entrypoint": []string{entrypoint}, "User": user},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{digest(layerTar.Bytes())}},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest(config), Size: len(config)},
		"layers": []descriptor{{
			MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: digest(layer.Bytes()), Size: layer.Len(),
		}},
	})
	tag := name[strings.LastIndex(name, ":")+1:]
	if strings.Contains(tag, "/") {
		return fmt.Errorf("%q: name needs a tag", name)
	}
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []descriptor{{
			MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: digest(manifest), Size: len(manifest),
			Annotations: map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
		}},
	})

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	ow := tar.NewWriter(f)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/sha256/" + strings.TrimPrefix(digest(config), "sha256:"), config},
		{"blobs/sha256/" + strings.TrimPrefix(digest(layer.Bytes()), "sha256:"), layer.Bytes()},
		{"blobs/sha256/" + strings.TrimPrefix(digest(manifest), "sha256:"), manifest},
	}
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: epoch, Typeflag: tar.TypeReg}
		if err := ow.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := ow.Write(e.data); err != nil {
			return err
		}
	}
	if err := ow.Close(); err != nil {
		return err
	}
	return f.Close()
}
