# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# Sourced by bench/mesh.sh and bench/idle.sh: both write one results file,
# each its own section, which a new run replaces.

# write_section FILE NAME: standard input becomes section NAME of FILE
# (between <!-- NAME:begin --> and <!-- NAME:end -->), replacing it if it
# is there, appended otherwise; FILE is created with a title if missing.
write_section() {
	local file=$1 name=$2 body tmp
	body=$(cat)
	mkdir -p "$(dirname "$file")"
	if [[ ! -e $file ]]; then
		printf '# Discovery at fleet scale: real meshes and idle cost\n\n' >"$file"
	fi
	tmp=$(mktemp "$file.XXXXXX")
	awk -v b="<!-- $name:begin -->" -v e="<!-- $name:end -->" '
		$0 == b { skip = 1; next }
		$0 == e { skip = 0; next }
		!skip { print }
	' "$file" >"$tmp"
	{
		echo "<!-- $name:begin -->"
		echo "$body"
		echo "<!-- $name:end -->"
	} >>"$tmp"
	mv "$tmp" "$file"
}
