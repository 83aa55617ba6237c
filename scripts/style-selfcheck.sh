#!/usr/bin/env bash
# CI self-check of the style gate: the very checks `.ci/run` runs must FAIL on an unformatted
# file and on a Vue lint error. Writes two throwaway files into the tree, expects each check to
# fail on them naming the file (or rule), removes them whatever happens.
set -uo pipefail
cd "$(dirname "$0")/.."

unformatted=apps/server/src/__style_selfcheck__.ts
badvue=apps/web/src/components/StyleSelfCheck.vue
trap 'rm -f "$unformatted" "$badvue"' EXIT

printf 'export const  answer = {a:1,\n b:2}\n' >"$unformatted"
# Formatted, but `v-for` without `:key` (vue/require-v-for-key, an error in Vue's rules).
cat >"$badvue" <<'VUE'
<script setup lang="ts">
defineProps<{ items: string[] }>();
</script>

<template>
  <ul>
    <li v-for="item in items">{{ item }}</li>
  </ul>
</template>
VUE

fail=0
if out=$(pnpm format:check 2>&1); then
  echo "style self-check FAILED: pnpm format:check passed with $unformatted in the tree"
  fail=1
elif ! grep -q "$unformatted" <<<"$out"; then
  echo "style self-check FAILED: pnpm format:check failed without naming $unformatted:"
  echo "$out"
  fail=1
else
  echo "style self-check: pnpm format:check fails on an unformatted file (ok)"
fi

# The same ESLint configuration and options as `pnpm lint`, on the one file (linting the whole
# tree again would double CI's lint time).
if out=$(pnpm exec eslint --max-warnings 0 "$badvue" 2>&1); then
  echo "style self-check FAILED: eslint passed $badvue (v-for without :key)"
  fail=1
elif ! grep -q 'vue/require-v-for-key' <<<"$out"; then
  echo "style self-check FAILED: eslint failed on $badvue for another reason:"
  echo "$out"
  fail=1
else
  echo "style self-check: eslint fails on a lint error in a .vue file (ok)"
fi
exit "$fail"
