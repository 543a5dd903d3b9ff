plugins {
    // AGP 8.13 needs Gradle 8.13 (gradle/wrapper/gradle-wrapper.properties) and JDK 17.
    id("com.android.application") version "8.13.1" apply false
}
