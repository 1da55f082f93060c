# Cross-compile for 64-bit ARM Linux with Debian/Ubuntu's cross compiler
# (apt-get install g++-aarch64-linux-gnu; add qemu-user to run the results on x86).
#   cmake -S deploy/lite -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=deploy/lite/cmake/aarch64-linux-gnu.cmake
# Another prefix (e.g. a vendor toolchain): -DFOMM_CROSS_PREFIX=/opt/gcc-arm/bin/aarch64-none-linux-gnu-
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

if(NOT FOMM_CROSS_PREFIX)
  set(FOMM_CROSS_PREFIX "aarch64-linux-gnu-")
endif()
set(CMAKE_C_COMPILER "${FOMM_CROSS_PREFIX}gcc")
set(CMAKE_CXX_COMPILER "${FOMM_CROSS_PREFIX}g++")

if(NOT FOMM_CROSS_SYSROOT)
  set(FOMM_CROSS_SYSROOT "/usr/aarch64-linux-gnu")
endif()
set(CMAKE_FIND_ROOT_PATH "${FOMM_CROSS_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Lets ctest run the aarch64 test binary on an x86 host through qemu-user.
find_program(FOMM_QEMU_AARCH64 qemu-aarch64)
if(FOMM_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR "${FOMM_QEMU_AARCH64};-L;${FOMM_CROSS_SYSROOT}")
endif()
