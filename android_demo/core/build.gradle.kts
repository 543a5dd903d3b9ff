// Plain Java, compiled for Java 8 APIs (as android_demo/selftest.sh does) so nothing in it needs
// more than Android's minSdk offers.
plugins {
    `java-library`
}

tasks.withType<JavaCompile>().configureEach {
    options.release.set(8)
    options.encoding = "UTF-8"
}

// The unit tests are a plain-Java harness (no JUnit): `gradle :core:unitTest`, or ../unittest.sh.
tasks.register<JavaExec>("unitTest") {
    group = "verification"
    description = "Runs org.prelnedge.core.CoreTest"
    classpath = sourceSets["test"].runtimeClasspath
    mainClass.set("org.prelnedge.core.CoreTest")
}
