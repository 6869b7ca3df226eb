# Packaging: install rules for everything besides the rotor binary (app/CMakeLists.txt installs
# that), and a Debian package with CPack DEB. `cpack -G DEB` in a Release build directory writes
# rotor_<version>-<release>_<arch>.deb; scripts/ci-packaging.sh builds, installs and checks it.
#
# Layout (Debian, systemd):
#   /usr/sbin/rotor                        the daemon and its operator commands
#   /lib/systemd/system/rotor.service      the hardened unit (not enabled on install)
#   /usr/lib/sysusers.d/rotor.conf         the rotor system user
#   /usr/lib/tmpfiles.d/rotor.conf         /var/lib/rotor, /etc/rotor, /etc/rotor/credentials
#   /etc/rotor/rotor.yaml                  the example configuration (conffile; 0640 root:rotor
#                                          through dpkg-statoverride in postinst)
#   /usr/share/man/man8/rotor.8.gz, /usr/share/man/man5/rotor.yaml.5.gz
#   /usr/share/doc/rotor/                  copyright, changelog, operations guide, Vault policy,
#                                          Prometheus alert rules, Grafana dashboard
include_guard(GLOBAL)

set(ROTOR_PACKAGING_DIR ${PROJECT_SOURCE_DIR}/packaging)
set(ROTOR_DEB_RELEASE 1)
set(ROTOR_DEB_VERSION ${PROJECT_VERSION}-${ROTOR_DEB_RELEASE})
set(ROTOR_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/rotor)

# Debian wants man pages and changelogs compressed with gzip -9n (no name, no time stamp: the
# same bytes every build).
find_program(ROTOR_GZIP gzip REQUIRED)
configure_file(${ROTOR_PACKAGING_DIR}/debian/changelog.in ${CMAKE_CURRENT_BINARY_DIR}/packaging/changelog.Debian
               @ONLY)
set(rotor_gzipped)
foreach(pair "man/rotor.8|rotor.8.gz" "man/rotor.yaml.5|rotor.yaml.5.gz")
  string(REPLACE "|" ";" pair "${pair}")
  list(GET pair 0 source)
  list(GET pair 1 output)
  add_custom_command(
    OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/packaging/${output}
    COMMAND ${ROTOR_GZIP} -9nc ${ROTOR_PACKAGING_DIR}/${source} > ${CMAKE_CURRENT_BINARY_DIR}/packaging/${output}
    DEPENDS ${ROTOR_PACKAGING_DIR}/${source}
    COMMENT "gzip ${source}"
    VERBATIM)
  list(APPEND rotor_gzipped ${CMAKE_CURRENT_BINARY_DIR}/packaging/${output})
endforeach()
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/packaging/changelog.Debian.gz
  COMMAND ${ROTOR_GZIP} -9nc ${CMAKE_CURRENT_BINARY_DIR}/packaging/changelog.Debian
          > ${CMAKE_CURRENT_BINARY_DIR}/packaging/changelog.Debian.gz
  DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/packaging/changelog.Debian
  COMMENT "gzip changelog.Debian"
  VERBATIM)
list(APPEND rotor_gzipped ${CMAKE_CURRENT_BINARY_DIR}/packaging/changelog.Debian.gz)
add_custom_target(rotor_packaging_files ALL DEPENDS ${rotor_gzipped})

set(rotor_data_perms OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${ROTOR_PACKAGING_DIR}/rotor.service DESTINATION /lib/systemd/system PERMISSIONS ${rotor_data_perms})
install(FILES ${ROTOR_PACKAGING_DIR}/rotor.sysusers DESTINATION lib/sysusers.d
        RENAME rotor.conf PERMISSIONS ${rotor_data_perms})
install(FILES ${ROTOR_PACKAGING_DIR}/rotor.tmpfiles DESTINATION lib/tmpfiles.d
        RENAME rotor.conf PERMISSIONS ${rotor_data_perms})
# 0640 in the package already, so the file is never world-readable; postinst gives it group rotor.
install(FILES ${ROTOR_PACKAGING_DIR}/rotor.yaml DESTINATION /etc/rotor
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/packaging/rotor.8.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 PERMISSIONS ${rotor_data_perms})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/packaging/rotor.yaml.5.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man5 PERMISSIONS ${rotor_data_perms})
install(FILES ${ROTOR_PACKAGING_DIR}/debian/copyright
              ${CMAKE_CURRENT_BINARY_DIR}/packaging/changelog.Debian.gz
              ${PROJECT_SOURCE_DIR}/docs/operations.md
              ${ROTOR_PACKAGING_DIR}/vault-policy.hcl
        DESTINATION ${ROTOR_DOCDIR} PERMISSIONS ${rotor_data_perms})
install(FILES ${ROTOR_PACKAGING_DIR}/prometheus/rotor-alerts.yml
        DESTINATION ${ROTOR_DOCDIR}/prometheus PERMISSIONS ${rotor_data_perms})
install(FILES ${ROTOR_PACKAGING_DIR}/grafana/rotor-dashboard.json
        DESTINATION ${ROTOR_DOCDIR}/grafana PERMISSIONS ${rotor_data_perms})
install(FILES ${ROTOR_PACKAGING_DIR}/debian/lintian-overrides
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME rotor PERMISSIONS ${rotor_data_perms})

# CPack DEB.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME rotor)
set(CPACK_PACKAGE_VENDOR "Rotor maintainers")
set(CPACK_PACKAGE_CONTACT "Rotor maintainers <maintainers@users.noreply.r-seed-aca216c5.example>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "rotates root/Administrator passwords of cloud servers into Vault")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${ROTOR_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://rotor.example.internal/")
# The summary comes from CPACK_PACKAGE_DESCRIPTION_SUMMARY; CPack indents these lines.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Rotor is a daemon that rotates the root and Administrator passwords of
Open Telekom Cloud and Huawei Cloud ECS servers on a schedule and keeps
every password (current, previous and in-flight) in HashiCorp Vault KV
version 2, so that a crash at any point never loses a password a server
may accept.
.
The package ships the rotor command, a hardened systemd unit that loads
its secrets with LoadCredential=, an example configuration, a Vault
policy, Prometheus alert rules and a Grafana dashboard.")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# postinst runs systemd-sysusers and systemd-tmpfiles (both in the systemd package).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${ROTOR_PACKAGING_DIR}/debian/postinst ${ROTOR_PACKAGING_DIR}/debian/prerm
    ${ROTOR_PACKAGING_DIR}/debian/postrm ${ROTOR_PACKAGING_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only what the install rules above and app/ name: rotor-sim and the tests are never installed.
include(CPack)
