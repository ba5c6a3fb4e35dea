# How qint8's dependencies are found on Debian 12. Shared by the build and by the installed
# qint8Config.cmake, so a consumer finds them exactly as the build did.
find_package(dnnl CONFIG REQUIRED)                 # DNNL::dnnl (oneDNN 2.6 on Debian 12)
find_package(nlohmann_json 3.10 CONFIG REQUIRED)   # nlohmann_json::nlohmann_json
# cpuinfo's own CMake config in Debian 12 points at a non-existent libclog.a; pkg-config works.
find_package(OpenMP REQUIRED)                      # oneDNN 2.6 on Debian runs on OpenMP threads
find_package(PkgConfig REQUIRED)
if(NOT TARGET PkgConfig::CPUINFO)
  pkg_check_modules(CPUINFO REQUIRED IMPORTED_TARGET GLOBAL libcpuinfo)
endif()
if(NOT DEFINED QINT8_USE_XSIMD OR QINT8_USE_XSIMD)
  # xsimd 8's target links `xtl` without finding it: find xtl first.
  find_package(xtl CONFIG REQUIRED)
  find_package(xsimd CONFIG REQUIRED)
endif()
if(QINT8_WITH_ONNX)
  # The converter's optional ONNX front end (qint8::convert_onnx): Debian's ONNX targets (onnx,
  # onnx_proto; ONNX_NAMESPACE=onnx, ONNX_ML=1) link protobuf::libprotobuf, found first.
  find_package(Protobuf REQUIRED)
  find_package(ONNX CONFIG REQUIRED)
endif()
