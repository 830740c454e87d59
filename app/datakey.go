package app

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/jobboard/jobboard/commands"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/mailer"
	"github.com/jobboard/jobboard/webhooks"
)

// Keyring returns the keyring of personal data over the configured
// key-encryption key: DATA_KEY, or else the key kept in DataKeyFile, made
// there (with a warning) the first time. Unlike a lost JWT secret, which
// only logs everyone out, a lost data key loses every person's personal
// data in the log: the file must be backed up, or DATA_KEY set.
//
// Only what starts the service or migrates its database makes the file
// (create); a tool that reads the log with a key of its own making would
// read nothing, so without one it fails and says where the key is looked
// for.
func Keyring(cfg Config, log *slog.Logger, create bool) (*eventstore.Keyring, error) {
	if cfg.DataKey != nil {
		return eventstore.NewKeyring(cfg.DataKey)
	}
	text, err := os.ReadFile(cfg.DataKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("DATA_KEY is not set and there is no %s: set DATA_KEY to the service's data key, "+
				"or run this where the service keeps its %s (DATA_KEY_FILE)", cfg.DataKeyFile, cfg.DataKeyFile)
		}
		return makeDataKeyFile(cfg.DataKeyFile, log)
	}
	if err != nil {
		return nil, fmt.Errorf("DATA_KEY is not set and %s cannot be read: %w", cfg.DataKeyFile, err)
	}
	key, err := eventstore.ParseKEK(string(text))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.DataKeyFile, err)
	}
	return eventstore.NewKeyring(key)
}

func makeDataKeyFile(path string, log *slog.Logger) (*eventstore.Keyring, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("DATA_KEY is not set and %s cannot be made: %w", path, err)
	}
	key := eventstore.NewKEK()
	// Written aside and linked into place, which fails if the file exists:
	// two processes starting at once must not each seal with a key of
	// their own, nor read a file half written; the loser reads the
	// winner's.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".data.key-*")
	if err != nil {
		return nil, fmt.Errorf("DATA_KEY is not set and %s cannot be made: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if key, err = eventstore.ParseKEK(string(text)); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return eventstore.NewKeyring(key)
	} else if err != nil {
		return nil, fmt.Errorf("DATA_KEY is not set and %s cannot be made: %w", path, err)
	}
	log.Warn("DATA_KEY is not set: made a new data key in "+path+"; back it up or set DATA_KEY. "+
		"Unlike a lost JWT secret, a lost data key loses every person's personal data in the log", "file", path)
	return eventstore.NewKeyring(key)
}

// Forgetters are what an erasure deletes besides the log's keys and the
// accounts' own rows: the mails (queue rows, and their files when mail
// goes to a directory) and the webhook deliveries and subscriptions.
func Forgetters(cfg Config) []commands.Forgetter {
	mail := mailer.Forgetter{From: cfg.Mail.From}
	if cfg.Mail.SMTPURL == "" {
		mail.Dir = cfg.Mail.Dir
	}
	return []commands.Forgetter{mail, webhooks.Forgetter{}}
}
