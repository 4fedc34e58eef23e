//! Where a repository lives: `file:///abs/dir`, `s3://bucket/prefix` or `mem://bucket/prefix`.

use std::fmt;

use super::RepoError;

/// What a valid location looks like, for error messages.
#[cfg(madsim)]
pub const LOCATION_FORMS: &str = "file:///absolute/dir, s3://bucket/prefix or mem://bucket/prefix";
/// What a valid location looks like, for error messages (`mem://` is the simulator's alone).
#[cfg(not(madsim))]
pub const LOCATION_FORMS: &str = "file:///absolute/dir or s3://bucket/prefix";

/// Longest location accepted.
pub const MAX_LOCATION_BYTES: usize = 1024;

/// A parsed repository location. Prefixes and directories are kept without leading or trailing
/// slashes; `dir` of [`Location::File`] is absolute (`/` first).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    File { dir: String },
    S3 { bucket: String, prefix: String },
    Mem { bucket: String, prefix: String },
}

impl Location {
    /// Parses a location URI.
    pub fn parse(uri: &str) -> Result<Location, RepoError> {
        let invalid = |why: &str| RepoError::Invalid(format!("location {uri:?} {why}; expected {LOCATION_FORMS}"));
        if uri.len() > MAX_LOCATION_BYTES {
            return Err(invalid(&format!("is longer than {MAX_LOCATION_BYTES} bytes")));
        }
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Err(invalid("has no scheme"));
        };
        match scheme {
            "file" => {
                if !rest.starts_with('/') {
                    return Err(invalid("is not an absolute path (file:// needs three slashes: file:///dir)"));
                }
                let dir = check_segments(rest.trim_matches('/')).map_err(|why| invalid(&why))?;
                Ok(Location::File { dir: format!("/{dir}") })
            }
            "s3" | "mem" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(invalid("has no bucket"));
                }
                if !bucket.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
                    return Err(invalid("has a bucket name with characters other than letters, digits, '-', '_', '.'"));
                }
                let prefix = check_segments(prefix.trim_matches('/')).map_err(|why| invalid(&why))?;
                let bucket = bucket.to_string();
                Ok(if scheme == "s3" { Location::S3 { bucket, prefix } } else { Location::Mem { bucket, prefix } })
            }
            _ => Err(invalid(&format!("has the unknown scheme {scheme:?}"))),
        }
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Location::File { .. } => "file",
            Location::S3 { .. } => "s3",
            Location::Mem { .. } => "mem",
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File { dir } => write!(f, "file://{dir}"),
            Location::S3 { bucket, prefix } | Location::Mem { bucket, prefix } => {
                write!(f, "{}://{bucket}", self.scheme())?;
                if !prefix.is_empty() {
                    write!(f, "/{prefix}")?;
                }
                Ok(())
            }
        }
    }
}

/// `path` (no leading or trailing slash) split on `/` must have no empty, `.` or `..` segment.
fn check_segments(path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Ok(String::new());
    }
    for segment in path.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!("has an empty, '.' or '..' path segment in {path:?}"));
        }
        if segment.chars().any(|c| c.is_control()) {
            return Err("has a control character".into());
        }
    }
    Ok(path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(Location::parse("file:///tmp/repo/").unwrap(), Location::File { dir: "/tmp/repo".into() });
        assert_eq!(Location::parse("file:///").unwrap(), Location::File { dir: "/".into() });
        assert_eq!(
            Location::parse("s3://bkt/a/b").unwrap(),
            Location::S3 { bucket: "bkt".into(), prefix: "a/b".into() }
        );
        assert_eq!(Location::parse("mem://bkt").unwrap(), Location::Mem { bucket: "bkt".into(), prefix: "".into() });
        assert_eq!(Location::parse("s3://bkt/a/b/").unwrap().to_string(), "s3://bkt/a/b");
        assert_eq!(Location::parse("file:///tmp/x").unwrap().to_string(), "file:///tmp/x");
    }

    #[test]
    fn bad_locations_say_what_is_valid() {
        for bad in [
            "",
            "/tmp/repo",
            "file://tmp/repo",
            "hdfs://nn/x",
            "s3://",
            "s3:///prefix",
            "s3://b/a//c",
            "mem://b/../x",
            "file:///a/./b",
            "s3://b@d/x",
        ] {
            let err = Location::parse(bad).unwrap_err();
            assert!(matches!(err, RepoError::Invalid(_)), "{bad}: {err}");
            assert!(err.to_string().contains(LOCATION_FORMS), "{bad}: {err}");
        }
        let long = format!("mem://b/{}", "x".repeat(MAX_LOCATION_BYTES));
        assert!(Location::parse(&long).is_err());
    }
}
