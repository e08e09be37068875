#!/usr/bin/env bash
# Regenerates Core/TallyWire/Generated from the .proto files. Not run in CI: it needs protoc
# (Debian: protobuf-compiler) and the two Swift plugins, which take ~10 minutes to build:
#   swift build -c release --product protoc-gen-swift         (in a checkout of apple/swift-protobuf 1.39)
#   swift build -c release --product protoc-gen-grpc-swift-2  (in a checkout of grpc/grpc-swift-protobuf 2.4)
# Point PLUGINS at the folder holding both binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugins=${PLUGINS:?set PLUGINS to the folder with protoc-gen-swift and protoc-gen-grpc-swift-2}
out="$here/../Generated"
rm -f "$out"/*.swift
protoc --proto_path="$here" \
  --plugin=protoc-gen-swift="$plugins/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift="$plugins/protoc-gen-grpc-swift-2" \
  --swift_out="$out" --swift_opt=Visibility=Public,FileNaming=DropPath \
  --grpc-swift_out="$out" --grpc-swift_opt=Visibility=Public,FileNaming=DropPath,Client=true,Server=true \
  "$here"/tally/v1/*.proto
echo "generated: $(ls "$out")"
