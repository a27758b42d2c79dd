# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Sourced by bench/mesh.sh and bench/idle.sh: both write one results file,
# each its own section, which a new run replaces where it stands.

# write_section FILE NAME: standard input becomes section NAME of FILE
# (between <!-- NAME:begin --> and <!-- NAME:end -->), replacing it in
# place if it is there, appended otherwise; FILE is created with a title
# if missing. The rest of the file (notes written by hand) is kept.
write_section() {
	local file=$1 name=$2 body tmp
	mkdir -p "$(dirname "$file")"
	if [[ ! -e $file ]]; then
		printf '# Discovery at fleet scale: real meshes and idle cost\n\n' >"$file"
	fi
	body=$(mktemp "$file.body.XXXXXX")
	{
		echo "<!-- $name:begin -->"
		cat
		echo "<!-- $name:end -->"
	} >"$body"
	tmp=$(mktemp "$file.XXXXXX")
	awk -v b="<!-- $name:begin -->" -v e="<!-- $name:end -->" -v body="$body" '
		$0 == b { while ((getline line < body) > 0) print line; skip = 1; done = 1; next }
		$0 == e { skip = 0; next }
		!skip { print }
		END {
			if (!done) { print ""; while ((getline line < body) > 0) print line }
		}
	' "$file" >"$tmp"
	rm -f "$body"
	chmod 644 "$tmp"
	mv "$tmp" "$file"
}
